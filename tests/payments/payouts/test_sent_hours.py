"""The hourly totals of what has left for M-Pesa (SentHour, kept by a PostgreSQL trigger) must always equal the
sum over the payouts themselves: the daily limit at send reads them instead of that sum."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from payments.models import SUBMITTED_STATUSES, Payout, PayoutStatus, SentHour
from payments.payouts import limits
from tests.factories import make_payout

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

SENT_MIGRATION = __import__("importlib").import_module("payments.migrations.0007_sent_hour_totals")


def _from_payouts(start: datetime, end: datetime) -> Decimal:
    rows = Payout.objects.filter(
        status__in=SUBMITTED_STATUSES, submitted_at__gte=start, submitted_at__lt=end
    ).aggregate(total=Sum("amount"))
    return rows["total"] or Decimal("0")


def _from_hours(start: datetime, end: datetime) -> Decimal:
    return SentHour.objects.filter(hour__gte=start, hour__lt=end).aggregate(total=Sum("amount"))["total"] or Decimal(
        "0"
    )


def test_the_trigger_counts_the_same_statuses_as_the_limit():
    assert set(SENT_MIGRATION.SENT) == set(SUBMITTED_STATUSES)


def test_hourly_totals_follow_every_kind_of_change_to_a_payout():
    rng = random.Random(20261130)
    base = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    statuses = list(PayoutStatus.values)
    payouts = []
    for n in range(40):
        status = rng.choice(statuses)
        payouts.append(
            make_payout(
                status=status,
                amount=Decimal(rng.randint(10, 5000)),
                submitted_at=None if rng.random() < 0.2 else base + timedelta(minutes=rng.randint(0, 3 * 24 * 60)),
                transaction_id=f"SGH{n:07d}",
                phone=f"2547{rng.randint(10000000, 99999999)}",
            )
        )
    for _step in range(300):
        payout = rng.choice(payouts)
        change = rng.choice(["status", "status", "amount", "submitted_at", "queryset"])
        if change == "status":
            payout.status = rng.choice(statuses)
            payout.save(update_fields=["status"])
        elif change == "amount":
            payout.amount = Decimal(rng.randint(10, 5000))
            payout.save(update_fields=["amount"])
        elif change == "submitted_at":
            payout.submitted_at = None if rng.random() < 0.2 else base + timedelta(minutes=rng.randint(0, 4320))
            payout.save(update_fields=["submitted_at"])
        else:  # a bulk UPDATE, as the sweeps and the send path write
            Payout.objects.filter(pk=payout.pk).update(status=rng.choice(statuses), amount=Decimal(rng.randint(10, 99)))
    Payout.objects.filter(pk__in=[p.pk for p in payouts[:5]]).delete()

    # Every Nairobi day (21:00 UTC to 21:00 UTC) and every single hour agree with the payouts themselves.
    for day in range(-1, 4):
        start = base + timedelta(days=day, hours=-3)
        assert _from_hours(start, start + timedelta(days=1)) == _from_payouts(start, start + timedelta(days=1))
    for hour in range(72):
        start = base + timedelta(hours=hour)
        assert _from_hours(start, start + timedelta(hours=1)) == _from_payouts(start, start + timedelta(hours=1))


def test_the_send_check_reads_today_from_the_hourly_totals(clock, settings):
    start, end = limits._today_bounds()
    assert limits._hour_totals_cover(start, end)  # Africa/Nairobi: the day starts at 21:00 UTC
    make_payout(status=PayoutStatus.COMPLETED, amount=Decimal("700"), submitted_at=timezone.now(),
                transaction_id="SGH0000100")
    make_payout(status=PayoutStatus.FAILED, amount=Decimal("900"), submitted_at=timezone.now())
    make_payout(status=PayoutStatus.SUBMITTED, amount=Decimal("50"), submitted_at=start - timedelta(minutes=1))
    claimed = make_payout(status=PayoutStatus.APPROVED, amount=Decimal("10"))
    columns, params = limits.send_figures_sql(claimed)
    assert "payments_senthour" in " ".join(columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)}", params)
        figures = limits.send_figures_from(cursor.fetchone())
    assert figures.sent_today == Decimal("700")  # yesterday's 50 and the failed 900 do not count


def test_a_zone_off_the_whole_hour_falls_back_to_summing_payouts():
    kolkata_midnight = datetime(2026, 11, 30, 18, 30, tzinfo=UTC)  # 00:00 in Asia/Kolkata
    assert not limits._hour_totals_cover(kolkata_midnight, kolkata_midnight + timedelta(days=1))
