"""On PostgreSQL the database itself refuses to update or delete an audit row."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION payments_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'payments_payoutevent is append-only';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS payments_event_append_only ON payments_payoutevent;
CREATE TRIGGER payments_event_append_only BEFORE UPDATE OR DELETE ON payments_payoutevent
    FOR EACH ROW EXECUTE FUNCTION payments_event_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS payments_event_append_only ON payments_payoutevent;
DROP FUNCTION IF EXISTS payments_event_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
