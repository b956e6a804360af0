"""Reads of payments' tables for the API, the exports and reconciliation, one module per subject (writes live
in the services). Querysets come back with what their callers will touch already joined or prefetched, so
listing a page costs a fixed number of queries however many rows it shows.

| Module | Reads |
| --- | --- |
| `periods.py` | finance periods in Nairobi time (no query: the bounds every report filters by) |
| `payouts.py` | payouts for the API and webhooks: the list and the detail, with approvals, events, editors |
| `payments.py` | payments (money in): the list, the STK pushes whose answer never came |
| `reconciliation.py` | a period's counts and totals, and the discrepancies that need a person |
| `exports.py` | the finance exports' rows, formatted by the database |
| `statement.py` | our records as an M-Pesa statement sees them, streamed for matching |

These are not every query of the project: a read that serves one place sits beside it. The console's
overview and queues read in `payments/dashboard.py`; the ledger's reads are `ledger/selectors.py`; a
service reads what it is about to change under its lock (`payments/payouts/`, `payments/callbacks/`); the
webhooks' payload reads in `webhooks/representation.py`. docs/architecture.md lists them.

Every name below is re-exported, so `from payments import selectors; selectors.payout_list()` keeps working.
"""

from payments.selectors.exports import MONEY_COLUMNS, TIME_COLUMNS, payment_export, payout_export
from payments.selectors.payments import payment_list, stk_push_unanswered
from payments.selectors.payouts import active_approvals, payout_detail, payout_list
from payments.selectors.periods import (
    EARLIEST_REPORT_DATE,
    LATEST_REPORT_DATE,
    ZERO,
    in_range,
    nairobi_day_start,
    nairobi_range,
    report_date_problem,
)
from payments.selectors.reconciliation import (
    PENDING_PAYMENT_AGE,
    DiscrepancyKind,
    DiscrepancySource,
    discrepancy_sources,
    reconciliation_stats,
)
from payments.selectors.statement import (
    CHUNK,
    LedgerEntry,
    ledger_by_receipts,
    ledger_payments_in_period,
    ledger_payouts_in_period,
    ledger_times,
)

__all__ = [
    "CHUNK",
    "EARLIEST_REPORT_DATE",
    "LATEST_REPORT_DATE",
    "MONEY_COLUMNS",
    "PENDING_PAYMENT_AGE",
    "TIME_COLUMNS",
    "ZERO",
    "DiscrepancyKind",
    "DiscrepancySource",
    "LedgerEntry",
    "active_approvals",
    "discrepancy_sources",
    "in_range",
    "ledger_by_receipts",
    "ledger_payments_in_period",
    "ledger_payouts_in_period",
    "ledger_times",
    "nairobi_day_start",
    "nairobi_range",
    "payment_export",
    "payment_list",
    "payout_detail",
    "payout_export",
    "payout_list",
    "reconciliation_stats",
    "report_date_problem",
    "stk_push_unanswered",
]
