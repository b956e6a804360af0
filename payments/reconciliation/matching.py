"""Matching an M-Pesa statement against our ledger, by receipt.

A statement row's Receipt No. is a payout's TransactionID (a B2C payment: the amount is under Withdrawn) or a
payment's receipt (under Paid In). Charges and movements between the organisation's own accounts are not
ours to match and are only counted. The discrepancies:

- `statement_only`: a completed statement row whose receipt we do not hold;
- `ours_only`: one of ours that moved money (a completed payment or payout, or a payout in review that
  holds a receipt) within the statement's period, missing from the statement (only the kind the statement's
  account holds: payouts on the B2C shortcode's, payments on the paybill's);
- `amount_mismatch`: the amounts differ (or the money went the other way);
- `status_mismatch`: one side completed and the other not (completed here, failed there, or the reverse);
- `duplicate_receipt`: the statement lists a receipt twice.

In bulk, for a million rows: one pass over the file keeps a compact entry per receipt, one streamed query per
table brings ours for the period, a few `IN` queries look up the receipts left over (ours, outside the
period), and a second pass over the file fetches the text of only the rows to report.
"""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import IO

from django.conf import settings
from django.db import transaction

from core.money import kes
from core.nairobi_time import NAIROBI
from core.spreadsheet_cells import neutralise
from ledger.accounts import MPESA_COLLECTIONS, MPESA_UTILITY
from ledger.services.statement import StatementPosting, statement_postings_propose
from payments import selectors
from payments.models import PaymentStatus, PayoutStatus
from payments.reconciliation.progress import Progress
from payments.reconciliation.statement import Statement, StatementRow, parse_amount
from payments.selectors import LedgerEntry


class Kind:
    STATEMENT_ONLY = "statement_only"
    OURS_ONLY = "ours_only"
    AMOUNT_MISMATCH = "amount_mismatch"
    STATUS_MISMATCH = "status_mismatch"
    DUPLICATE = "duplicate_receipt"
    ALL = (STATEMENT_ONLY, OURS_ONLY, AMOUNT_MISMATCH, STATUS_MISMATCH, DUPLICATE)


@dataclass
class Discrepancy:
    kind: str
    receipt: str
    message: str
    statement_line: int | None = None
    statement_time: str = ""
    statement_amount: Decimal | None = None
    statement_status: str = ""
    statement_details: str = ""
    our_type: str = ""
    our_id: int | None = None
    our_amount: Decimal | None = None
    our_status: str = ""
    our_time: str = ""


REPORT_COLUMNS = [f.name for f in fields(Discrepancy)]


@dataclass
class Reconciliation:
    rows: int = 0
    matched: int = 0
    ours_in_period: int = 0
    period_start: datetime | None = None
    period_end: datetime | None = None
    period_from: str = ""  # "header" or "rows"
    # Which of ours the statement accounts for, so which may be reported missing from it.
    covers: tuple[str, ...] = ()
    skipped: Counter = field(default_factory=Counter)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    # Charges and transfers (what only the statement knows), and what of them waits for another person's
    # acceptance (ledger.services.statement.StatementProposed).
    ledger_items: list = field(default_factory=list)
    ledger_proposed: object = None
    # Every statement line in exactly one of LINE_KINDS, with the money it moved (completed lines only), so
    # the result accounts for each line and for the move from the opening to the closing balance.
    lines: Counter = field(default_factory=Counter)
    line_amounts: dict = field(default_factory=dict)
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None

    def add_line(self, kind: str, signed: Decimal) -> None:
        self.lines[kind] += 1
        self.line_amounts[kind] = self.line_amounts.get(kind, Decimal("0")) + signed

    @property
    def movements(self) -> Decimal:
        return sum(self.line_amounts.values(), Decimal("0"))

    @property
    def expected_closing(self) -> Decimal | None:
        return None if self.opening_balance is None else self.opening_balance + self.movements

    @property
    def balance_agrees(self) -> bool | None:
        """Whether opening balance + every line's movement = the closing balance; None when the statement's
        header gives neither."""
        if self.expected_closing is None or self.closing_balance is None:
            return None
        return self.expected_closing == self.closing_balance

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    def counts(self) -> Counter:
        return Counter(d.kind for d in self.discrepancies)


LINE_KINDS = {
    "payout": "Payouts matched to ours",
    "payment": "Payments matched to ours",
    "not_ours": "Payouts or payments we do not hold",
    "duplicate": "Receipts listed twice",
    "charge": "M-Pesa charges",
    "transfer": "Transfers between the organisation's accounts",
    "other": "Other lines (no amount)",
}


# Rows that are not a payout or a payment of ours: transaction charges, and movements between the
# organisation's own accounts (utility, working, charges), settlements and the like.
_FEE = re.compile(r"\bcharges?\b", re.IGNORECASE)
_INTERNAL = re.compile(
    r"\b(transfer|settlement|working account|utility account|charges? account|organization to organization|"
    r"business to business|funds movement|revenue)\b",
    re.IGNORECASE,
)
_SHORTCODE = re.compile(r"short\s*code|organi[sz]ation number", re.IGNORECASE)
_COMPLETED = frozenset({"completed", "complete", "success", "successful"})

# A compact entry per statement receipt: (line, expected record type, cents, completed?).
PAYOUT, PAYMENT = "payout", "payment"


_KIND_CACHE: dict[tuple[str, str], str] = {}


def _text_kind(reason_type: str, details: str) -> str:
    key = (reason_type, details)
    kind = _KIND_CACHE.get(key)
    if kind is None:
        text = f"{reason_type} {details}"
        kind = "fee" if _FEE.search(text) else "internal" if _INTERNAL.search(text) else ""
        if len(_KIND_CACHE) < 10_000:  # reason types repeat; details with names in them may not
            _KIND_CACHE[key] = kind
    return kind


def classify(row: StatementRow) -> str:
    """'payout', 'payment', 'fee', 'internal' or 'no_amount'."""
    kind = _text_kind(row.reason_type, row.details)
    if kind:
        return kind
    direction = row.direction
    if direction == "out":
        return PAYOUT
    if direction == "in":
        return PAYMENT
    return "no_amount"


def _cents(amount: Decimal) -> int:
    return int(abs(amount) * 100)


def _time_text(value: datetime | None) -> str:
    return value.astimezone(NAIROBI).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _ours_completed(entry: LedgerEntry) -> bool:
    if entry.type == PAYOUT:
        return entry.status == PayoutStatus.COMPLETED
    return entry.status == PaymentStatus.COMPLETED


def _ours_moved_money(entry: LedgerEntry) -> bool:
    if entry.type == PAYOUT:
        return entry.status in (PayoutStatus.COMPLETED, PayoutStatus.NEEDS_REVIEW)
    return entry.status == PaymentStatus.COMPLETED


def _with_ours(d: Discrepancy, entry: LedgerEntry) -> Discrepancy:
    d.our_type, d.our_id, d.our_amount = entry.type, entry.id, entry.amount
    d.our_status = entry.status
    return d


def _compare(receipt: str, stmt: tuple, entry: LedgerEntry) -> list[Discrepancy]:
    line, expected, cents, completed, status = stmt
    amount = Decimal(cents).scaleb(-2)
    problems = []
    label = f"{entry.type} #{entry.id}"
    if expected != entry.type:
        where = "paid in" if expected == PAYMENT else "withdrawn"
        problems.append((Kind.AMOUNT_MISMATCH, f"The statement shows {receipt} as {where}, ours is {label}."))
    elif cents != _cents(entry.amount):
        problems.append((Kind.AMOUNT_MISMATCH, f"The statement shows {kes(amount)}; {label} is {kes(entry.amount)}."))
    if completed != _ours_completed(entry):
        there = status or "no status"
        problems.append(
            (Kind.STATUS_MISMATCH, f"{label.capitalize()} is {entry.status} here but {there} in the statement.")
        )
    return [
        _with_ours(
            Discrepancy(kind, receipt, message, statement_line=line, statement_amount=amount, statement_status=status),
            entry,
        )
        for kind, message in problems
    ]


def reconcile(
    statement: Statement,
    *,
    progress_stream: IO[str] | None = None,
    progress: Progress | None = None,
    proposed_by=None,
    job_id: int | None = None,
) -> Reconciliation:
    """Match `statement` against our ledger. Progress (rows read) goes to a terminal bar on `progress_stream`,
    or to `progress` when given (the console's worker reports it to the page). The charges and transfers only
    the statement knows are proposed for the ledger in the name of `proposed_by` (who uploaded it), never
    posted: another person accepts them."""
    result = Reconciliation()
    entries: dict[str, tuple] = {}
    statuses: dict[str, str] = {}  # one string object per distinct status text
    seen: set[str] = set()
    first: datetime | None = None
    last: datetime | None = None

    progress = progress or Progress(progress_stream, "Reading statement")
    for row in statement.rows(full=False):
        result.rows += 1
        if result.rows % 10_000 == 0:
            progress.update(10_000)
        when = row.completed_at
        if first is None or when < first:
            first = when
        if last is None or when > last:
            last = when
        kind = classify(row)
        completed = row.status.lower() in _COMPLETED
        signed = (-row.amount if row.direction == "out" else row.amount) if completed else Decimal("0")
        if kind not in (PAYOUT, PAYMENT):
            result.skipped[kind] += 1
            result.add_line({"fee": "charge", "internal": "transfer"}.get(kind, "other"), signed)
            if kind in ("fee", "internal") and completed:
                what = "charge" if kind == "fee" else "funding"
                result.ledger_items.append(StatementPosting(row.receipt, what, signed, when, row.reason_type))
            continue
        seen.add(kind)
        status = statuses.setdefault(row.status, row.status)
        if row.receipt in entries:
            result.add_line("duplicate", signed)
            result.discrepancies.append(
                Discrepancy(
                    Kind.DUPLICATE,
                    row.receipt,
                    f"{row.receipt} is listed again (first on line {entries[row.receipt][0]}).",
                    statement_line=row.line,
                    statement_amount=row.amount,
                    statement_status=status,
                )
            )
            continue
        entries[row.receipt] = (row.line, kind, _cents(row.amount), status.lower() in _COMPLETED, status)
    progress.close()

    result.opening_balance = _header_amount(statement, "opening balance")
    result.closing_balance = _header_amount(statement, "closing balance")
    if statement.header.period_start and statement.header.period_end:
        result.period_start, result.period_end = statement.header.period_start, statement.header.period_end
        result.period_from = "header"
    elif first is not None:
        result.period_start, result.period_end, result.period_from = first, last, "rows"

    result.covers = _covers(statement, seen)
    # One transaction: PostgreSQL then streams the period's rows from a plain server-side cursor.
    with transaction.atomic():
        _match_ours(result, entries)
    entries.clear()
    # Into the statement's own account: the paybill's when it lists only payments, else the B2C float.
    account = MPESA_COLLECTIONS if result.covers == (PAYMENT,) else MPESA_UTILITY
    result.ledger_proposed = statement_postings_propose(
        items=result.ledger_items, account=account, proposed_by=proposed_by, job_id=job_id
    )
    result.ledger_items = []

    _add_our_times(result.discrepancies)
    _add_statement_details(statement, result.discrepancies)
    result.discrepancies.sort(key=lambda d: (Kind.ALL.index(d.kind), d.statement_line or sys.maxsize, d.receipt))
    return result


def _header_amount(statement: Statement, label: str) -> Decimal | None:
    for name, value in statement.header.fields.items():
        if name.strip().lower() == label:
            try:
                return parse_amount(value)
            except ValueError:  # a header we cannot read: the balance check says so rather than failing
                return None
    return None


def _stmt_signed(kind: str, cents: int, completed: bool) -> Decimal:
    if not completed:
        return Decimal("0")
    amount = Decimal(cents).scaleb(-2)
    return -amount if kind == PAYOUT else amount


def _covers(statement: Statement, seen: set[str]) -> tuple[str, ...]:
    """A statement is one account's: the B2C shortcode's lists payouts, the paybill's lists payments. Known
    from the header's short code when it names one of ours, else from the kinds of row the statement has
    (both when it has none: then everything of ours in its period is missing)."""
    shortcode = next(
        (v.split()[0] for k, v in statement.header.fields.items() if _SHORTCODE.search(k) and v.split()), ""
    )
    b2c, c2b = settings.MPESA_B2C_SHORTCODE, settings.MPESA_SHORTCODE
    if shortcode and b2c != c2b:
        if shortcode == b2c:
            return (PAYOUT,)
        if shortcode == c2b:
            return (PAYMENT,)
    return tuple(k for k in (PAYOUT, PAYMENT) if k in seen) or (PAYOUT, PAYMENT)


def _match_ours(result: Reconciliation, entries: dict[str, tuple]) -> None:
    # Ours within the period, streamed: each either matches a statement row (removed from `entries`) or is
    # missing from the statement.
    if result.period_start is not None:
        sources = {PAYOUT: selectors.ledger_payouts_in_period, PAYMENT: selectors.ledger_payments_in_period}
        for kind in result.covers:
            for entry in sources[kind](start=result.period_start, end=result.period_end):
                result.ours_in_period += 1
                stmt = entries.pop(entry.receipt, None)
                if stmt is not None:
                    result.matched += 1
                    result.add_line(stmt[1], _stmt_signed(stmt[1], stmt[2], stmt[3]))
                    result.discrepancies.extend(_compare(entry.receipt, stmt, entry))
                elif _ours_moved_money(entry):
                    result.discrepancies.append(
                        _with_ours(
                            Discrepancy(
                                Kind.OURS_ONLY,
                                entry.receipt,
                                f"{entry.type.capitalize()} #{entry.id} ({entry.status}, {kes(entry.amount)}) "
                                "is not in the statement.",
                            ),
                            entry,
                        )
                    )

    # Receipts left: ours from outside the period (a payout we time differently), else not ours at all.
    for entry in selectors.ledger_by_receipts(entries):
        stmt = entries.pop(entry.receipt, None)
        if stmt is not None:
            result.matched += 1
            result.add_line(stmt[1], _stmt_signed(stmt[1], stmt[2], stmt[3]))
            result.discrepancies.extend(_compare(entry.receipt, stmt, entry))
    for receipt, (line, kind, cents, completed, status) in entries.items():
        result.add_line("not_ours", _stmt_signed(kind, cents, completed))
        if not completed:
            # A failed or pending row that is not ours moved no money.
            result.skipped["not_completed_not_ours"] += 1
            continue
        where = "withdrawn" if kind == PAYOUT else "paid in"
        amount = Decimal(cents).scaleb(-2)
        result.discrepancies.append(
            Discrepancy(
                Kind.STATEMENT_ONLY,
                receipt,
                f"{kes(amount)} {where} under {receipt} matches no {kind} of ours.",
                statement_line=line,
                statement_amount=amount,
                statement_status=status,
            )
        )


def _add_our_times(discrepancies: list[Discrepancy]) -> None:
    for kind in (PAYOUT, PAYMENT):
        reported = [d for d in discrepancies if d.our_type == kind]
        if reported:
            times = selectors.ledger_times(kind, {d.our_id for d in reported})
            for d in reported:
                d.our_time = _time_text(times.get(d.our_id))


def _add_statement_details(statement: Statement, discrepancies: list[Discrepancy]) -> None:
    """Second pass over the file, for the time and text of only the rows being reported."""
    wanted: dict[int, list[Discrepancy]] = {}
    for d in discrepancies:
        if d.statement_line is not None:
            wanted.setdefault(d.statement_line, []).append(d)
    if not wanted:
        return
    for row in statement.rows(lines=set(wanted)):
        for d in wanted[row.line]:
            d.statement_time = row.completed_at.strftime("%Y-%m-%d %H:%M:%S")
            d.statement_details = " | ".join(
                dict.fromkeys(t for t in (row.reason_type, row.details, row.other_party) if t)
            )


def write_report(result: Reconciliation, out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for d in result.discrepancies:
        # Statement text (Details, Other Party Info) is Safaricom's and its customers': no formula runs.
        writer.writerow(["" if getattr(d, name) is None else neutralise(getattr(d, name)) for name in REPORT_COLUMNS])
