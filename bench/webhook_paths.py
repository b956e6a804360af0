#!/usr/bin/env python
"""What the webhooks' two hand-written SQL paths (webhooks/event_sql.py) earn over the ORM paths beside them,
in process: one payout status event's data (`payout_data`: one JSON-aggregate query against `payout_detail()`'s
four) and its rows (the event and its deliveries in one statement against `save()`, the endpoints' SELECT and
`bulk_create()`), each side timed in alternating rounds inside one transaction that is rolled back (nothing
is kept). Wall time per event, median of the rounds; statements per event counted once.

    BENCH_DB=bench_webhooks .venv/bin/python bench/webhook_paths.py [--payouts 200] [--rounds 6] [--endpoints 2]

The whole-system figure is bench/alternate.sh with the `webhooks_orm` variant (bench/variants.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_database, manage, setup_django  # noqa: E402


def _payouts(count: int) -> list:
    from django.contrib.auth import get_user_model

    from payments.models import AuditAction, AuditEvent, EventSource, Payout, PayoutApproval, PayoutStatus

    users = get_user_model()
    requester, _ = users.objects.get_or_create(username="bench-webhooks-requester")
    approvers = [users.objects.get_or_create(username=f"bench-webhooks-approver-{n}")[0] for n in range(2)]
    made = []
    for n in range(count):
        payout = Payout.objects.create(phone="254712345678", amount=Decimal("100.00"), remarks=f"bench {n}",
                                       requested_by=requester, status=PayoutStatus.SUBMITTED)
        for approver in approvers:
            PayoutApproval.objects.create(payout=payout, approver=approver, requested_by=requester,
                                          amount=payout.amount, phone=payout.phone, command_id=payout.command_id)
        for action in (AuditAction.REQUESTED, AuditAction.APPROVED, AuditAction.SENDING, AuditAction.SUBMITTED):
            AuditEvent.objects.create(payout=payout, action=action, source=EventSource.TASK, details={})
        made.append(payout)
    return made


def _endpoints(count: int) -> None:
    from django.contrib.auth import get_user_model

    from webhooks.models import WebhookEndpoint

    owner, _ = get_user_model().objects.get_or_create(username="bench-webhooks-owner")
    for n in range(count):
        WebhookEndpoint.objects.create(url=f"https://example.com/hook/{n}", events=["*"], enabled=True,
                                       created_by=owner)


def _data_sql(payout) -> None:
    from webhooks.representation import payout_data

    payout_data(payout)


def _data_orm(payout) -> None:
    from payments import selectors
    from webhooks.representation import _serializer

    dict(_serializer("PayoutDetailSerializer").to_representation(selectors.payout_detail().get(pk=payout.pk)))


def _event(payout):
    from webhooks.models import EventType, WebhookEvent

    return WebhookEvent(type=EventType.PAYOUT_SENT, payout=payout, object_key=f"payout:{payout.pk}", body="{}")


def _rows_sql(payout) -> None:
    from webhooks.event_sql import event_with_deliveries_insert

    event_with_deliveries_insert(_event(payout))


def _rows_orm(payout) -> None:
    from webhooks.models import WebhookDelivery, WebhookEndpoint

    event = _event(payout)
    event.save()
    endpoints = [e for e in WebhookEndpoint.objects.filter(enabled=True) if e.wants(event.type)]
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(endpoint=e, event=event, object_key=event.object_key) for e in endpoints]
    )


def _per_event_us(step, payouts) -> float:
    started = time.perf_counter()
    for payout in payouts:
        step(payout)
    return (time.perf_counter() - started) / len(payouts) * 1e6


def _statements(step, payout) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        step(payout)
    return len(queries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payouts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--endpoints", type=int, default=2)
    args = parser.parse_args()
    ensure_database()
    manage("migrate", "-v0")
    setup_django()
    from django.db import transaction

    sides = {"data": (_data_sql, _data_orm), "rows": (_rows_sql, _rows_orm)}
    times: dict[str, list[float]] = {f"{path} {side}": [] for path in sides for side in ("sql", "orm")}
    with transaction.atomic():
        _endpoints(args.endpoints)
        payouts = _payouts(args.payouts)
        for path, (sql, orm) in sides.items():
            sql(payouts[0]), orm(payouts[0])  # warm: serializers built, statements prepared
            counts = _statements(sql, payouts[0]), _statements(orm, payouts[0])
            print(f"{path}: statements per event sql {counts[0]}, orm {counts[1]}")
        for round_ in range(args.rounds):
            for path, (sql, orm) in sides.items():
                order = [("sql", sql), ("orm", orm)] if round_ % 2 == 0 else [("orm", orm), ("sql", sql)]
                for side, step in order:
                    times[f"{path} {side}"].append(_per_event_us(step, payouts))
        transaction.set_rollback(True)
    for label, values in times.items():
        print(f"{label}: median {statistics.median(values):.0f} us per event, rounds "
              + ", ".join(f"{v:.0f}" for v in values))
    for path in sides:
        sql, orm = statistics.median(times[f"{path} sql"]), statistics.median(times[f"{path} orm"])
        print(f"{path}: the ORM takes {orm / sql - 1:+.0%} against SQL ({orm - sql:+.0f} us per event)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
