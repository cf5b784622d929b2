"""On PostgreSQL the database itself refuses to change the access log: no
UPDATE, DELETE or TRUNCATE of patients_auditevent, except the sealer's one
update of a row not sealed yet (setting its seal and nothing else), and no
UPDATE, DELETE or TRUNCATE of patients_auditcheckpoint.

TRUNCATE is let through for the tables' owner (and superusers) only: Django's
flush, which the test runner uses between transactional tests, truncates
every table as the owner, and the owner could drop these triggers anyway.
The application should run as a role that owns nothing (README, Production).

SQLite has no such triggers: the embedded clinic trusts its one file's owner.
"""

from django.db import migrations

# Let the owner (or a superuser) truncate; refuse everyone else.
TRUNCATE_BY_OWNER = """
    IF TG_OP = 'TRUNCATE'
        AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER')
    THEN
        RETURN NULL;
    END IF;
"""

INSTALL = f"""
CREATE FUNCTION patients_auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The sealer's update: an unsealed row gets its seal, and nothing else changes.
    IF TG_OP = 'UPDATE'
        AND OLD.hash IS NULL AND NEW.hash IS NOT NULL
        AND OLD.position IS NULL AND NEW.position IS NOT NULL
        AND to_jsonb(NEW) - ARRAY['position', 'previous_hash', 'key_id', 'hash']
            = to_jsonb(OLD) - ARRAY['position', 'previous_hash', 'key_id', 'hash']
    THEN
        RETURN NEW;
    END IF;
    {TRUNCATE_BY_OWNER}
    RAISE EXCEPTION 'the access log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER auditevent_append_only
    BEFORE UPDATE OR DELETE ON patients_auditevent
    FOR EACH ROW EXECUTE FUNCTION patients_auditevent_append_only();
CREATE TRIGGER auditevent_no_truncate
    BEFORE TRUNCATE ON patients_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION patients_auditevent_append_only();

CREATE FUNCTION patients_auditcheckpoint_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {TRUNCATE_BY_OWNER}
    RAISE EXCEPTION 'the access log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER auditcheckpoint_append_only
    BEFORE UPDATE OR DELETE ON patients_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION patients_auditcheckpoint_append_only();
CREATE TRIGGER auditcheckpoint_no_truncate
    BEFORE TRUNCATE ON patients_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION patients_auditcheckpoint_append_only();
"""

REMOVE = """
DROP TRIGGER auditevent_append_only ON patients_auditevent;
DROP TRIGGER auditevent_no_truncate ON patients_auditevent;
DROP FUNCTION patients_auditevent_append_only();
DROP TRIGGER auditcheckpoint_append_only ON patients_auditcheckpoint;
DROP TRIGGER auditcheckpoint_no_truncate ON patients_auditcheckpoint;
DROP FUNCTION patients_auditcheckpoint_append_only();
"""


def on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0007_audit_seal"),
    ]

    operations = [migrations.RunPython(on_postgresql(INSTALL), on_postgresql(REMOVE))]
