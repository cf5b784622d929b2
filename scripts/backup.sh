#!/bin/sh
# Back up the clinic's PostgreSQL database: one pg_dump custom-format file per
# run, BACKUP_DIR/<database>-<UTC time>.dump, and the dumps older than
# BACKUP_KEEP_DAYS days removed. Prints the path of the new dump.
#
# The connection comes from libpq's own variables: PGHOST, PGPORT, PGUSER,
# PGPASSWORD (or PGPASSFILE) and PGDATABASE, the database to back up.
#
#   PGHOST=db PGUSER=clinic PGPASSWORD=... PGDATABASE=clinic scripts/backup.sh
set -eu

: "${PGDATABASE:?set PGDATABASE (and PGHOST, PGUSER, PGPASSWORD) to the database to back up}"
BACKUP_DIR="${BACKUP_DIR:-/backups}"
BACKUP_KEEP_DAYS="${BACKUP_KEEP_DAYS:-14}"
case "$BACKUP_KEEP_DAYS" in
    '' | *[!0-9]* | 0) echo "BACKUP_KEEP_DAYS must be a whole number of days, 1 or more" >&2; exit 2 ;;
esac

# The dumps hold every patient's records: readable by this user only.
umask 077
mkdir -p "$BACKUP_DIR"
file="$BACKUP_DIR/$PGDATABASE-$(date -u +%Y%m%dT%H%M%SZ).dump"
# Written under another name and renamed when complete, so that a dump cut
# short (a full disk, a restart) is never taken for a backup.
pg_dump --format=custom --file="$file.partial" "$PGDATABASE"
mv "$file.partial" "$file"

# Keep BACKUP_KEEP_DAYS days of dumps (and no partial dump older than that).
find "$BACKUP_DIR" -maxdepth 1 -type f -name "$PGDATABASE-*.dump*" \
    -mmin "+$((BACKUP_KEEP_DAYS * 1440))" -delete
echo "$file"
