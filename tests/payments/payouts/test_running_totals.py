"""The running totals the payout table's triggers keep (PayoutDay: payouts ended per day; SentHour: amount sent
per hour) are kept per connection: two connections settling or sending at the same moment never wait for each
other on one row, and what reads them (the console's figures, the daily limit at send) adds the shards up.

Before migration 0015 each day (or hour) was one row, and every settlement of the day waited for the previous
one's COMMIT: under load, most of a B2C result's time (bench/README.md, session 7)."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from payments.models import PayoutDay, PayoutStatus, SentHour
from payments.payouts import limits
from tests.factories import make_payout, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# The moment is Python's (a parameter), not the database's now(): the tests run under the `clock` fixture, and
# PostgreSQL's clock does not travel with it.
COMPLETE = (
    "UPDATE payments_payout SET status = 'completed', transaction_id = %(receipt)s, completed_at = %(at)s,"
    " status_changed_at = %(at)s WHERE id = %(id)s"
)
SUBMIT = "UPDATE payments_payout SET status = 'submitted', submitted_at = %(at)s WHERE id = %(id)s"


def _connect() -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], dbname=s["NAME"])


def _shard(conn: psycopg.Connection) -> int:
    return conn.info.backend_pid % 16


def _two_connections_on_two_shards() -> tuple[psycopg.Connection, psycopg.Connection]:
    """Two connections whose backends add to different shards (the pid modulo 16 decides, so a few tries)."""
    first = _connect()
    for _ in range(64):
        second = _connect()
        if _shard(second) != _shard(first):
            return first, second
        second.close()
    first.close()
    pytest.fail("64 connections in a row landed on the first one's shard")


def _at_once(statement: str, first_params: dict, second_params: dict) -> None:
    """`statement` on two connections: the first's transaction is still open (holding whatever its trigger
    locked) while the second's runs and commits. The second gives up after 2 s of waiting for a lock."""
    first, second = _two_connections_on_two_shards()
    with first, second:
        first.execute(statement, first_params)
        second.execute("SET lock_timeout = '2s'")
        second.execute(statement, second_params)  # raised LockNotAvailable when a day was one row
        second.commit()
        first.commit()


def test_two_settlements_at_once_do_not_wait_for_each_other_and_the_console_adds_their_shards(clock):
    now = timezone.now()
    one = make_payout(status=PayoutStatus.SUBMITTED, amount=Decimal("1500.00"), submitted_at=now)
    two = make_payout(status=PayoutStatus.SUBMITTED, amount=Decimal("2500.00"), submitted_at=now)

    _at_once(COMPLETE, {"receipt": "SHARD00001", "id": one.pk, "at": now},
             {"receipt": "SHARD00002", "id": two.pk, "at": now})  # fmt: skip

    assert PayoutDay.objects.filter(status=PayoutStatus.COMPLETED).values("shard").distinct().count() == 2
    client = APIClient()
    client.force_authenticate(make_user("boss", is_superuser=True, is_staff=True))
    data = client.get("/api/dashboard/").json()
    assert data["paid_today"] == {"count": 2, "amount": "4000.00"}


def test_two_sends_at_once_do_not_wait_for_each_other_and_the_daily_limit_counts_both(clock, settings):
    now = timezone.now()
    one = make_payout(status=PayoutStatus.SENDING, amount=Decimal("700.00"))
    two = make_payout(status=PayoutStatus.SENDING, amount=Decimal("300.00"))

    _at_once(SUBMIT, {"id": one.pk, "at": now}, {"id": two.pk, "at": now})

    assert SentHour.objects.values("shard").distinct().count() == 2
    client = APIClient()
    client.force_authenticate(make_user("boss", is_superuser=True, is_staff=True))
    assert client.get("/api/dashboard/").json()["float"]["series"][-1]["payout_volume"] == "1000.00"  # today
    settings.PAYOUT_DAILY_LIMIT = Decimal("1050.00")
    assert limits.send_hold_reason(make_payout(status=PayoutStatus.APPROVED, amount=Decimal("60.00"))).startswith(
        "Daily limit"
    )  # 700 + 300 sent today, so 60 more is over 1,050
    assert limits.send_hold_reason(make_payout(status=PayoutStatus.APPROVED, amount=Decimal("50.00"))) == ""


def test_migration_0015_keeps_the_totals_of_the_payouts_already_there_both_ways():
    now = timezone.now()
    make_payout(status=PayoutStatus.SUBMITTED, amount=Decimal("700.00"), submitted_at=now)
    make_payout(status=PayoutStatus.COMPLETED, amount=Decimal("1500.00"), transaction_id="MIGR000001",
                submitted_at=now, status_changed_at=now)  # fmt: skip
    make_payout(status=PayoutStatus.COMPLETED, amount=Decimal("250.00"), transaction_id="MIGR000002",
                submitted_at=now, status_changed_at=now)  # fmt: skip

    def totals() -> tuple[Decimal, int, Decimal]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COALESCE(SUM(amount), 0) FROM payments_senthour")
            sent = cursor.fetchone()[0]
            cursor.execute("SELECT SUM(count), SUM(amount) FROM payments_payoutday WHERE status = 'completed'")
            count, amount = cursor.fetchone()
        return sent, count, amount

    assert totals() == (Decimal("2450.00"), 2, Decimal("1750.00"))
    call_command("migrate", "payments", "0014", verbosity=0)  # one row per day and per hour again
    assert totals() == (Decimal("2450.00"), 2, Decimal("1750.00"))
    call_command("migrate", "payments", verbosity=0)  # and sharded, with the payouts already there
    assert totals() == (Decimal("2450.00"), 2, Decimal("1750.00"))
    make_payout(status=PayoutStatus.SUBMITTED, amount=Decimal("50.00"), submitted_at=now)  # the triggers still add
    assert totals()[0] == Decimal("2500.00")
