# The running totals the payout table's triggers keep (PayoutDay per Nairobi day, kind and status; SentHour per
# UTC hour) are kept per connection: a trigger adds to the row of its shard, the backend's pid modulo 16, and
# readers sum the shards. With one row per day (or hour), every payout that completed today (or was sent this
# hour) queued behind the previous one's COMMIT on that row's lock, which is taken at the status UPDATE:
# under load, most of a B2C result's time (bench/README.md, session 7).
#
# PayoutDay's rows become shard 0. SentHour's primary key was its hour, so its table is made anew and refilled
# from the payouts, as migration 0007 filled it. Going back merges the shards into one row again. Payout
# writes wait while this runs (the table lock below), so no total misses a change.

import importlib

from django.db import migrations, models

SENT_SQL = importlib.import_module("payments.migrations.0007_sent_hour_totals").SENT_SQL
SHARD = "pg_backend_pid() % 16"


def _upsert(table: str, key: list[str], values: list[str], *, sharded: bool, add: list[str]) -> str:
    columns, conflict = [*key, *(["shard"] if sharded else []), *add], [*key, *(["shard"] if sharded else [])]
    row = [*values[: len(key)], *([SHARD] if sharded else []), *values[len(key):]]
    updates = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in add)
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(row)})"
            f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates};")


def payout_day_function(*, sharded: bool) -> str:
    def day(side: str, sign: str) -> str:
        return _upsert("payments_payoutday", ["day", "kind", "status"],
                       [f"{side.lower()}_day", f"{side}.kind", f"{side}.status", f"{sign}1", f"{sign}{side}.amount"],
                       sharded=sharded, add=["count", "amount"])
    return f"""
CREATE OR REPLACE FUNCTION payments_payout_day() RETURNS trigger AS $$
DECLARE
    old_day date;
    new_day date;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.status IN ('completed', 'failed') THEN
        old_day := (OLD.status_changed_at AT TIME ZONE 'Africa/Nairobi')::date;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status IN ('completed', 'failed') THEN
        new_day := (NEW.status_changed_at AT TIME ZONE 'Africa/Nairobi')::date;
    END IF;
    IF TG_OP = 'UPDATE' AND old_day IS NOT DISTINCT FROM new_day AND OLD.status = NEW.status
       AND OLD.kind = NEW.kind AND OLD.amount = NEW.amount THEN
        RETURN NULL;
    END IF;
    IF old_day IS NOT NULL THEN
        {day("OLD", "-")}
    END IF;
    IF new_day IS NOT NULL THEN
        {day("NEW", "")}
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def sent_hour_function(*, sharded: bool) -> str:
    def hour(side: str, sign: str) -> str:
        return _upsert("payments_senthour", ["hour"], [f"{side}_hour", f"{sign}{side}_amount"],
                       sharded=sharded, add=["amount"])
    return f"""
CREATE OR REPLACE FUNCTION payments_sent_hour() RETURNS trigger AS $$
DECLARE
    old_hour timestamptz;
    new_hour timestamptz;
    old_amount numeric := 0;
    new_amount numeric := 0;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.submitted_at IS NOT NULL AND OLD.status IN ({SENT_SQL}) THEN
        old_hour := date_trunc('hour', OLD.submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        old_amount := OLD.amount;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.submitted_at IS NOT NULL AND NEW.status IN ({SENT_SQL}) THEN
        new_hour := date_trunc('hour', NEW.submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        new_amount := NEW.amount;
    END IF;
    IF old_hour IS NOT DISTINCT FROM new_hour AND old_amount = new_amount THEN
        RETURN NULL;
    END IF;
    IF old_hour IS NOT NULL THEN
        {hour("old", "-")}
    END IF;
    IF new_hour IS NOT NULL THEN
        {hour("new", "")}
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""




def refill_sent_hours(*, sharded: bool) -> str:
    """SentHour from the payouts themselves (as migration 0007 filled it), into shard 0 when sharded."""
    shard_column, shard_value = (", shard", ", 0") if sharded else ("", "")
    return f"""
INSERT INTO payments_senthour (hour{shard_column}, amount)
SELECT date_trunc('hour', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'{shard_value}, SUM(amount)
FROM payments_payout WHERE submitted_at IS NOT NULL AND status IN ({SENT_SQL})
GROUP BY 1
"""
MERGE_DAY_SHARDS = """
WITH merged AS (DELETE FROM payments_payoutday RETURNING day, kind, status, count, amount)
INSERT INTO payments_payoutday (day, kind, status, shard, count, amount)
SELECT day, kind, status, 0, SUM(count), SUM(amount) FROM merged GROUP BY day, kind, status
"""
LOCK_PAYOUTS = "LOCK TABLE payments_payout IN SHARE ROW EXCLUSIVE MODE"


def _run(schema_editor, *statements: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite keeps no running totals (the readers sum the payouts)
    # Through the cursor without parameters: `%` in the functions is SQL's modulo, not a placeholder.
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def lock_payouts(apps, schema_editor):
    _run(schema_editor, LOCK_PAYOUTS)


def refill_unsharded_hours(apps, schema_editor):  # the last step going back: the old table is there again
    _run(schema_editor, refill_sent_hours(sharded=False))


def shard(apps, schema_editor):
    _run(schema_editor, payout_day_function(sharded=True), sent_hour_function(sharded=True),
         refill_sent_hours(sharded=True))


def unshard(apps, schema_editor):
    _run(schema_editor, LOCK_PAYOUTS, payout_day_function(sharded=False), sent_hour_function(sharded=False),
         MERGE_DAY_SHARDS)


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0014_rename_payoutevent_auditevent'),
    ]

    operations = [
        migrations.RunPython(lock_payouts, refill_unsharded_hours),
        migrations.RemoveConstraint(model_name='payoutday', name='payout_day_unique'),
        migrations.AddField(
            model_name='payoutday',
            name='shard',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddConstraint(
            model_name='payoutday',
            constraint=models.UniqueConstraint(
                fields=('day', 'kind', 'status', 'shard'), name='payout_day_shard_unique'
            ),
        ),
        migrations.DeleteModel(name='SentHour'),
        migrations.CreateModel(
            name='SentHour',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('hour', models.DateTimeField()),
                ('shard', models.PositiveSmallIntegerField(default=0)),
                ('amount', models.DecimalField(decimal_places=2, default=0, max_digits=16)),
            ],
            options={
                'verbose_name': 'amount sent per hour',
                'constraints': [models.UniqueConstraint(fields=('hour', 'shard'), name='sent_hour_shard_unique')],
            },
        ),
        migrations.RunPython(shard, unshard),
    ]
