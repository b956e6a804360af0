"""The audit model is named for what it records: `PayoutEvent` also held payment, credential and sign-in events,
so it becomes `AuditEvent` (table `payments_auditevent`). The rename keeps every row, index and trigger; the
append-only trigger's message names the new table, and the model's permissions keep whoever held them
(their codenames are renamed in place, so groups and users granted `view_payoutevent` now hold
`view_auditevent`)."""

from django.db import migrations

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION payments_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""
APPEND_ONLY_BEFORE = """
CREATE OR REPLACE FUNCTION payments_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'payments_payoutevent is append-only';
END;
$$ LANGUAGE plpgsql;
"""
ACTIONS = ("add", "change", "delete", "view")


def _rename_codenames(apps, old: str, new: str) -> None:
    Permission = apps.get_model("auth", "Permission")
    for action in ACTIONS:
        stale = Permission.objects.filter(content_type__app_label="payments", codename=f"{action}_{old}")
        if not Permission.objects.filter(content_type__app_label="payments", codename=f"{action}_{new}").exists():
            stale.update(codename=f"{action}_{new}", name=f"Can {action} {new.replace('event', ' event')}")


def forwards(apps, schema_editor):
    _rename_codenames(apps, "payoutevent", "auditevent")
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(APPEND_ONLY)


def backwards(apps, schema_editor):
    _rename_codenames(apps, "auditevent", "payoutevent")
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(APPEND_ONLY_BEFORE)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0013_retry_of_and_name_search"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RenameModel("PayoutEvent", "AuditEvent"),
        migrations.RunPython(forwards, backwards),
    ]
