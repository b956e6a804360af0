"""`ledger_backfill`: post the history that predates the ledger, so an existing deployment can adopt it.

For each payout the ledger should hold its amount where its status puts it (services/payouts.py: the
float, in flight, or paid out); the backfill posts the difference between that and what the ledger already
holds for it, once (source `backfill`, one key per payout and kind), dated when it happened (completed,
submitted, approved or created). Each completed payment is posted as `received` under the same key as a live
posting, so it can never be posted twice. A second run finds no difference and posts nothing.

The payouts of each chunk are locked (FOR UPDATE) before their difference is read, so a payout changing
status while the backfill runs is either posted live before the difference is taken or after it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Sum

from ledger import accounts
from ledger.models import Entry
from ledger.services.money import payment_received_post
from ledger.services.payouts import payout_place
from ledger.services.posting import DAILY_TOTALS_CTE, transaction_post
from payments.models import (
    BUSINESS_RAILS,
    UNSETTLED_STATUSES,
    Payment,
    PaymentStatus,
    Payout,
    PayoutRail,
    PayoutStatus,
)

CHUNK = 20_000
_IN_FLIGHT_SQL = ", ".join(f"'{status}'" for status in sorted(UNSETTLED_STATUSES))
_POSITIONED = f"{_IN_FLIGHT_SQL}, 'completed'"
# The account each rail pays from, as SQL (accounts.rail_source is the rule).
_SOURCE_SQL = "CASE rail " + " ".join(
    f"WHEN '{rail}' THEN '{accounts.rail_source(rail)}'" for rail in PayoutRail.values
) + " END::varchar"
_BUSINESS_SQL = ", ".join(f"'{rail}'" for rail in sorted(BUSINESS_RAILS))

_PAYOUTS_SQL = f"""
WITH p AS (
    SELECT id, amount, status, kind, payment_id, command_id, rail,
           coalesce(completed_at, submitted_at, approved_at, created_at) AS happened
    FROM payments_payout WHERE id >= %(lo)s AND id < %(hi)s
),
expected AS (
    SELECT id, {_SOURCE_SQL} AS account, -amount AS net FROM p WHERE status IN ({_POSITIONED})
    UNION ALL
    SELECT id,
           CASE WHEN status <> 'completed' THEN 'payouts_in_flight'
                WHEN rail = 'float_topup' THEN 'mpesa_utility'
                WHEN kind = 'refund' OR payment_id IS NOT NULL THEN 'customer_refunds'
                WHEN rail IN ({_BUSINESS_SQL}) THEN coalesce(%(map)s::jsonb ->> command_id, 'supplier_payments')
                ELSE coalesce(%(map)s::jsonb ->> command_id, %(map)s::jsonb ->> kind, 'disbursements') END,
           amount
    FROM p WHERE status IN ({_POSITIONED})
),
actual AS (
    SELECT t.payout_id AS id, e.account_id AS account, sum(e.debit - e.credit) AS net
    FROM ledger_journaltransaction t JOIN ledger_entry e ON e.transaction_id = t.id
    WHERE t.payout_id >= %(lo)s AND t.payout_id < %(hi)s AND t.kind <> 'charge'
    GROUP BY 1, 2
),
diff AS (
    SELECT id, account, sum(net) AS net
    FROM (SELECT id, account, net FROM expected UNION ALL SELECT id, account, -net FROM actual) x
    GROUP BY id, account HAVING sum(net) <> 0
),
tx AS (
    INSERT INTO ledger_journaltransaction
        (source, source_id, kind, posted_at, memo, payout_id, payment_id, created_by_id, reverses_id, clears_id)
    SELECT 'backfill', p.id::text,
           CASE WHEN EXISTS (SELECT 1 FROM actual a WHERE a.id = p.id) THEN 'adjustment'
                WHEN p.status = 'completed' THEN 'completed' ELSE 'sent' END,
           CASE WHEN EXISTS (SELECT 1 FROM actual a WHERE a.id = p.id) THEN now() ELSE p.happened END,
           'Backfill: payout #' || p.id || ' ' || p.status, p.id, p.payment_id, NULL, NULL, NULL
    FROM p WHERE p.id IN (SELECT id FROM diff)
    ON CONFLICT (source, source_id, kind) DO NOTHING
    RETURNING id, payout_id, posted_at
),
ent AS (
    INSERT INTO ledger_entry (transaction_id, account_id, debit, credit, posted_at)
    SELECT tx.id, d.account, greatest(d.net, 0), greatest(-d.net, 0), tx.posted_at
    FROM tx JOIN diff d ON d.id = tx.payout_id
    RETURNING account_id, debit, credit, posted_at
),
{DAILY_TOTALS_CTE}
SELECT (SELECT count(*) FROM tx), (SELECT coalesce(sum(debit), 0) FROM ent), (SELECT count(*) FROM bal)
"""

_PAYMENTS_SQL = """
WITH tx AS (
    INSERT INTO ledger_journaltransaction
        (source, source_id, kind, posted_at, memo, payout_id, payment_id, created_by_id, reverses_id, clears_id)
    SELECT 'payment', p.id::text, 'received', coalesce(p.transaction_time, p.created_at),
           'Payment #' || p.id || coalesce(' ' || p.receipt, ''), NULL, p.id, NULL, NULL, NULL
    FROM payments_payment p WHERE p.status = 'completed' AND p.id >= %(lo)s AND p.id < %(hi)s
    ON CONFLICT (source, source_id, kind) DO NOTHING
    RETURNING id, payment_id, posted_at
),
ent AS (
    INSERT INTO ledger_entry (transaction_id, account_id, debit, credit, posted_at)
    SELECT tx.id, side.account, CASE WHEN side.dr THEN p.amount ELSE 0 END, CASE WHEN side.dr THEN 0 ELSE p.amount END,
           tx.posted_at
    FROM tx JOIN payments_payment p ON p.id = tx.payment_id
    CROSS JOIN (VALUES ('mpesa_collections'::varchar, true), ('payments_received'::varchar, false)) side(account, dr)
    RETURNING account_id, debit, credit, posted_at
),
""" + DAILY_TOTALS_CTE + """
SELECT (SELECT count(*) FROM tx), (SELECT coalesce(sum(debit), 0) FROM ent), (SELECT count(*) FROM bal)
"""


@dataclass
class BackfillResult:
    payouts_posted: int = 0
    payout_amount: Decimal = Decimal("0")
    payments_posted: int = 0
    payment_amount: Decimal = Decimal("0")


def ledger_backfill(*, chunk: int = CHUNK, progress=None) -> BackfillResult:
    accounts.ensure_accounts()
    result = BackfillResult()
    if connection.vendor == "postgresql":
        _backfill_sql(result, chunk, progress)
    else:
        _backfill_orm(result)
    return result


def _backfill_sql(result: BackfillResult, chunk: int, progress) -> None:
    mapping = json.dumps(settings.LEDGER_DISBURSEMENT_ACCOUNTS)
    top = Payout.objects.aggregate(m=Max("id"))["m"] or 0
    for lo in range(0, top + 1, chunk):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT id FROM payments_payout WHERE id >= %s AND id < %s FOR UPDATE", [lo, lo + chunk])
            cursor.execute(_PAYOUTS_SQL, {"lo": lo, "hi": lo + chunk, "map": mapping})
            posted, amount, _ = cursor.fetchone()
        result.payouts_posted += posted
        result.payout_amount += amount
        if progress:
            progress(f"payouts up to #{min(lo + chunk, top)}: {result.payouts_posted} posted")
    top = Payment.objects.aggregate(m=Max("id"))["m"] or 0
    for lo in range(0, top + 1, chunk):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_PAYMENTS_SQL, {"lo": lo, "hi": lo + chunk})
            posted, amount, _ = cursor.fetchone()
        result.payments_posted += posted
        result.payment_amount += amount
    with connection.cursor() as cursor:
        # Fresh statistics after a bulk load, so the planner picks the right index from the first posting.
        cursor.execute("ANALYZE ledger_journaltransaction, ledger_entry, ledger_dailybalance")


def _backfill_orm(result: BackfillResult) -> None:
    """The same, one payout at a time (SQLite)."""
    positioned = [*UNSETTLED_STATUSES, PayoutStatus.COMPLETED]
    for payout in Payout.objects.order_by("id").iterator():
        with transaction.atomic():
            payout = Payout.objects.select_for_update().get(pk=payout.pk)
            expected: dict[str, Decimal] = {}
            if payout.status in positioned:
                expected[accounts.rail_source(payout.rail)] = -payout.amount
                place = payout_place(payout, payout.status)
                expected[place] = expected.get(place, Decimal("0")) + payout.amount
            actual = dict(
                Entry.objects.filter(transaction__payout_id=payout.pk).exclude(transaction__kind="charge")
                .values("account").annotate(net=Sum("debit") - Sum("credit")).values_list("account", "net")
            )
            diff = {code: expected.get(code, Decimal("0")) - actual.get(code, Decimal("0"))
                    for code in set(expected) | set(actual)}
            diff = {code: net for code, net in diff.items() if net}
            if not diff:
                continue
            from ledger.services.posting import Line

            kind = "adjustment" if actual else ("completed" if payout.status == PayoutStatus.COMPLETED else "sent")
            tx = transaction_post(
                source="backfill", source_id=payout.pk, kind=kind,
                lines=[Line(code, debit=max(net, 0), credit=max(-net, 0)) for code, net in sorted(diff.items())],
                posted_at=payout.completed_at or payout.submitted_at or payout.approved_at or payout.created_at,
                memo=f"Backfill: payout #{payout.pk} {payout.status}", payout_id=payout.pk,
                payment_id=payout.payment_id,
            )
            if tx:
                result.payouts_posted += 1
                result.payout_amount += sum(max(net, 0) for net in diff.values())
    for payment in Payment.objects.filter(status=PaymentStatus.COMPLETED).order_by("id").iterator():
        if payment_received_post(payment=payment):
            result.payments_posted += 1
            result.payment_amount += payment.amount
