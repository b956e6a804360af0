# Drop the LIKE-only ("varchar_pattern_ops") indexes Django adds beside every indexed or unique CharField on
# PostgreSQL.
#
# Nothing here filters with a case-sensitive LIKE/startswith: the admin searches match exactly (see
# get_search_results in payments/admin), and its icontains searches compare UPPER(...), which these indexes
# cannot serve. Yet every INSERT, and every UPDATE that changes an indexed column, paid for them: 9 of the
# payout's 27 indexes, 5 of the callback's 15, 5 of the notification's 12. A B2C result writes all three
# tables (bench/README.md has what it cost).
#
# Django makes such an index again only when a migration alters that field;
# tests/payments/models/test_indexes.py fails if one comes back.

from django.db import migrations

TABLES = (
    "payments_payment",
    "payments_payout",
    "payments_darajacallback",
    "payments_payoutevent",
    "payments_payoutbatch",
    "notifications_notification",
    "notifications_notificationrecipient",
)


def pattern_ops_indexes(connection) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY(%s)"
            " AND (indexdef LIKE '%%varchar_pattern_ops%%' OR indexdef LIKE '%%text_pattern_ops%%')",
            [list(TABLES)],
        )
        return [name for (name,) in cursor.fetchall()]


def drop(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    for name in pattern_ops_indexes(connection):
        schema_editor.execute(f"DROP INDEX IF EXISTS {connection.ops.quote_name(name)}")


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0005_payout_send_limit_indexes"),
        ("notifications", "0001_initial"),
    ]

    # Reversing keeps the indexes dropped: they served no query.
    operations = [migrations.RunPython(drop, migrations.RunPython.noop)]
