"""What the database carries for the hot paths: no index that serves no query, prepared statements on."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.db import connection

from payments.models import Payout

drop_migration = import_module("payments.migrations.0006_drop_pattern_ops_indexes")

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_no_like_only_indexes_on_the_tables_a_callback_writes():
    # Every write pays for every index; these serve only case-sensitive LIKE, which nothing here runs.
    assert drop_migration.pattern_ops_indexes(connection) == []


def _plain_indexes(table: str) -> dict[str, list[int]]:
    """Non-unique, non-partial btree indexes of a table: name -> key columns (attribute numbers, in order)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indkey::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_am a ON a.oid = c.relam"
            " WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND i.indpred IS NULL AND a.amname = 'btree'",
            [table],
        )
        return {name: [int(n) for n in key.split()] for name, key in cursor.fetchall()}


@pytest.mark.parametrize(
    "table", ["payments_payout", "payments_darajacallback", "payments_auditevent", "notifications_notification"]
)
def test_no_index_is_the_first_columns_of_another(table):
    # A status change rewrites every index of the payout row; an index on (status) beside one on
    # (status, status_changed_at) is paid on every write and answers nothing the longer one cannot.
    indexes = _plain_indexes(table)
    shadowed = [
        (name, other)
        for name, columns in indexes.items()
        for other, longer in indexes.items()
        if other != name and len(longer) > len(columns) and longer[: len(columns)] == columns
    ]
    assert shadowed == []


def test_mismatched_callbacks_have_their_own_small_index():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'callback_mismatch_received'")
        (definition,) = cursor.fetchone()
    assert "WHERE mismatch" in definition


def test_indexes_that_lookups_need_are_still_there():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [Payout._meta.db_table])
        definitions = " ".join(row[0] for row in cursor.fetchall())
    for column in ("callback_token", "originator_conversation_id", "transaction_id", "phone", "conversation_id"):
        assert f"({column})" in definitions, column


def test_postgresql_statements_are_bound_and_prepared_by_the_server():
    # The callback path runs the same statements thousands of times: psycopg prepares them after a few runs.
    lookup = "SELECT id FROM payments_payout WHERE callback_token = %s"
    with connection.cursor() as cursor:
        for _ in range(6):
            cursor.execute(lookup, ["no-such-token"])
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%callback_token = $1%"])
        assert cursor.fetchone()[0] == 1


def test_dropping_the_requester_index_leaves_its_foreign_key_alone():
    # Re-adding a foreign key checks every payout under a lock that holds writes: migration 0008 may only drop
    # indexes (and add the partial one), whatever the size of the table it runs on.
    from django.db.migrations.executor import MigrationExecutor

    with connection.cursor() as cursor:  # the table as 0007 left it (rolled back with the test)
        cursor.execute('CREATE INDEX "payments_payout_requested_by_id_da2dc8f6" ON payments_payout (requested_by_id)')
    executor = MigrationExecutor(connection)
    migration = executor.loader.get_migration("payments", "0008_redundant_indexes")
    statements = " ".join(executor.loader.collect_sql([(migration, False)])).upper()
    assert 'DROP INDEX IF EXISTS "PAYMENTS_PAYOUT_REQUESTED_BY_ID_DA2DC8F6"' in statements
    assert "CONSTRAINT" not in statements
    assert "FOREIGN KEY" not in statements
