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
