"""ledger_post takes its shard's lock as a transaction-scoped advisory lock instead of an upsert of a
`ledger_balanceshard` row. The lock does what it did (postings of one shard queue in one order instead of
deadlocking on two accounts' running totals taken in different orders); the row it wrote on every posting
(a heap tuple, its WAL and an index entry) is gone, and so is the table, which nothing read."""

import importlib

from django.db import migrations

BEFORE = importlib.import_module("ledger.migrations.0004_post_function").CREATE
SHARD_LOCK_BEFORE = """    INSERT INTO ledger_balanceshard (day, shard, postings) VALUES (d, s, 1)
        ON CONFLICT (day, shard) DO UPDATE SET postings = ledger_balanceshard.postings + 1;
"""
# The key's first half names the ledger (0x4C454447, "LEDG"); two-key advisory locks never meet the
# one-key lock the send's limit checks take.
SHARD_LOCK = """    PERFORM pg_advisory_xact_lock(1279607879, s);
"""
assert SHARD_LOCK_BEFORE in BEFORE
AFTER = BEFORE.replace(SHARD_LOCK_BEFORE, SHARD_LOCK)


def _run(schema_editor, sql: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:  # no parameters: `%` in the body is SQL's modulo
            cursor.execute(sql)


def forwards(apps, schema_editor):
    _run(schema_editor, AFTER)


def backwards(apps, schema_editor):
    _run(schema_editor, BEFORE)


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0005_payout_id_index'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.DeleteModel(name='BalanceShard'),
    ]
