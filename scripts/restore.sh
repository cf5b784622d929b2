#!/bin/sh
# Restore a dump made by scripts/backup.sh:
#
#   scripts/restore.sh FILE [DATABASE]
#
# DATABASE (by default PGDATABASE) is created when it does not exist. When it
# does, every object the dump holds is dropped and made again from the dump
# (pg_restore --clean --if-exists), in one transaction: a restore that fails
# leaves the database as it was. Stop the web, worker and beat services first.
# The connection comes from libpq's variables (PGHOST, PGPORT, PGUSER,
# PGPASSWORD); the user must be allowed to create databases for a fresh one.
set -eu

file="${1:?usage: restore.sh FILE [DATABASE]}"
target="${2:-${PGDATABASE:?give the database to restore into, or set PGDATABASE}}"
if [ ! -r "$file" ]; then
    echo "cannot read $file" >&2
    exit 1
fi
# A custom-format dump, whole: pg_restore reads its table of contents.
pg_restore --list "$file" >/dev/null

exists=$(printf '%s\n' "SELECT 1 FROM pg_database WHERE datname = :'target';" |
    psql --no-psqlrc --tuples-only --no-align --dbname=postgres --set=target="$target")
if [ "$exists" != "1" ]; then
    createdb "$target"
fi
pg_restore --clean --if-exists --no-owner --exit-on-error --single-transaction \
    --dbname="$target" "$file"
echo "restored $file into $target"
