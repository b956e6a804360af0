"""The simulator's memory of what "M-Pesa" received and paid: the truth status queries answer from.

Thread-safe (the HTTP server answers each request in its own thread) and, when given a path, saved to JSON
after every change, atomically, so a crash never leaves half a file and a restart keeps the history.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

PAID = "paid"
FAILED = "failed"
NOT_PROCESSED = "not_processed"  # timed out in the queue before M-Pesa acted: no money moved
MAX_CALLBACK_LOG = 500


@dataclass
class PaymentRecord:
    """One B2C request that M-Pesa took in (one ConversationID)."""

    originator_conversation_id: str
    conversation_id: str
    transaction_id: str
    amount: int
    phone: str
    command_id: str
    party_a: str
    remarks: str
    occasion: str
    scenario: str
    outcome: str  # PAID, FAILED or NOT_PROCESSED
    result_code: str
    result_desc: str
    completed_at: str  # ISO 8601, Nairobi time
    utility_balance_after: str
    received_at: list[str] = field(default_factory=list)  # every request with this OriginatorConversationID
    duplicate_attempts: int = 0
    working_balance_after: str = ""

    @property
    def paid(self) -> bool:
        return self.outcome == PAID


@dataclass
class StkRecord:
    merchant_request_id: str
    checkout_request_id: str
    phone: str
    amount: int
    account_reference: str
    scenario: str
    result_code: int
    receipt: str
    received_at: str


@dataclass
class B2BRecord:
    """One B2B request (paybill, till or float top-up) M-Pesa took in; both ids are Daraja's own."""

    originator_conversation_id: str
    conversation_id: str
    transaction_id: str
    command_id: str
    receiver_type: str
    amount: int
    party_a: str
    party_b: str
    account_reference: str
    receiver_name: str
    scenario: str
    outcome: str  # PAID, FAILED or NOT_PROCESSED
    result_code: str
    result_desc: str
    completed_at: str
    working_balance_after: str
    utility_balance_after: str
    received_at: str

    @property
    def paid(self) -> bool:
        return self.outcome == PAID


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


class Ledger:
    def __init__(
        self,
        path: str | Path | None = None,
        *,
        float_balance: Decimal = Decimal("1000000.00"),
        working_balance: Decimal = Decimal("500000.00"),
    ) -> None:
        self.lock = threading.RLock()
        self.path = Path(path) if path else None
        self._initial_float = Decimal(float_balance)
        self.payments: list[PaymentRecord] = []
        # OriginatorConversationID -> its payments, in order: a lookup per request must not scan the ledger.
        self._by_originator: dict[str, list[PaymentRecord]] = {}
        self._index_of = (id(self.payments), 0)  # the list and length the index was built from
        self.stk_requests: list[StkRecord] = []
        self.rejected_requests: list[dict[str, str]] = []
        self.callbacks: list[dict[str, Any]] = []
        self.utility_balance = self._initial_float
        # The Working account: B2B payments are drawn from it, a float top-up moves money from it to Utility.
        self._initial_working = Decimal(working_balance)
        self.working_balance = self._initial_working
        self.b2b_payments: list[B2BRecord] = []
        if self.path and self.path.exists():
            self._load()

    # --- Reads ---------------------------------------------------------------------------------------

    def for_originator_id(self, originator_conversation_id: str) -> list[PaymentRecord]:
        with self.lock:
            return list(self._indexed().get(originator_conversation_id, ()))

    def _indexed(self) -> dict[str, list[PaymentRecord]]:
        """The index by OriginatorConversationID (under the lock), rebuilt if `payments` changed behind it."""
        if self._index_of != (id(self.payments), len(self.payments)):
            self._by_originator = {}
            for payment in self.payments:
                self._by_originator.setdefault(payment.originator_conversation_id, []).append(payment)
            self._index_of = (id(self.payments), len(self.payments))
        return self._by_originator

    def by_receipt(self, transaction_id: str) -> PaymentRecord | None:
        with self.lock:
            return next((p for p in self.payments if p.transaction_id == transaction_id), None)

    def b2b_by_id(self, originator_conversation_id: str, transaction_id: str = "") -> B2BRecord | None:
        """The B2B request with this OriginatorConversationID (the one its answer gave), else with this receipt."""
        with self.lock:
            by_id = [b for b in self.b2b_payments if b.originator_conversation_id == originator_conversation_id]
            by_receipt = [b for b in self.b2b_payments if transaction_id and b.transaction_id == transaction_id]
            return (by_id or by_receipt or [None])[0]

    def was_rejected(self, originator_conversation_id: str, code: str) -> bool:
        with self.lock:
            return any(
                r["originator_conversation_id"] == originator_conversation_id and r["code"] == code
                for r in self.rejected_requests
            )

    def snapshot(self) -> dict[str, Any]:
        """The ledger as JSON-ready data (what GET /simulator/ledger returns)."""
        with self.lock:
            paid = [p for p in self.payments if p.paid]
            paid_per_id = Counter(p.originator_conversation_id for p in paid)
            return {
                "payments": [asdict(p) for p in self.payments],
                "count": len(self.payments),
                "paid_count": len(paid),
                "paid_total": f"{sum((Decimal(p.amount) for p in paid), Decimal(0)):.2f}",
                "paid_more_than_once": sorted(ocid for ocid, n in paid_per_id.items() if n > 1),
                "duplicate_attempts": [
                    {"originator_conversation_id": p.originator_conversation_id, "count": p.duplicate_attempts}
                    for p in self.payments
                    if p.duplicate_attempts
                ],
                "rejected_requests": list(self.rejected_requests),
                "stk_requests": [asdict(s) for s in self.stk_requests],
                "callbacks": list(self.callbacks),
                "utility_balance": f"{self.utility_balance:.2f}",
                "b2b_payments": [asdict(b) for b in self.b2b_payments],
                "working_balance": f"{self.working_balance:.2f}",
            }

    # --- Writes (each one saved) -----------------------------------------------------------------------

    def debit(self, amount: int) -> bool:
        """Take `amount` from the utility account if it is there; False (nothing taken) if not."""
        with self.lock:
            if Decimal(amount) > self.utility_balance:
                return False
            self.utility_balance -= Decimal(amount)
            self._save()
            return True

    def add_payment(self, record: PaymentRecord) -> None:
        with self.lock:
            index = self._indexed()
            self.payments.append(record)
            index.setdefault(record.originator_conversation_id, []).append(record)
            self._index_of = (id(self.payments), len(self.payments))
            self._save()

    def note_duplicate(self, record: PaymentRecord, received_at: str) -> None:
        with self.lock:
            record.duplicate_attempts += 1
            record.received_at.append(received_at)
            self._save()

    def note_rejection(self, originator_conversation_id: str, code: str, received_at: str) -> None:
        with self.lock:
            self.rejected_requests.append(
                {"originator_conversation_id": originator_conversation_id, "code": code, "received_at": received_at}
            )
            self._save()

    def note_callback(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.callbacks.append(entry)
            del self.callbacks[:-MAX_CALLBACK_LOG]
            self._save()

    def pay_from_working(self, amount: int, *, to_utility: bool = False) -> bool:
        """Take `amount` from the Working account (into Utility for a top-up); False, nothing moved, if short."""
        with self.lock:
            if Decimal(amount) > self.working_balance:
                return False
            self.working_balance -= Decimal(amount)
            if to_utility:
                self.utility_balance += Decimal(amount)
            self._save()
            return True

    def add_b2b(self, record: B2BRecord) -> None:
        with self.lock:
            self.b2b_payments.append(record)
            self._save()

    def add_stk(self, record: StkRecord) -> None:
        with self.lock:
            self.stk_requests.append(record)
            self._save()

    def reset(self, float_balance: Decimal | None = None) -> None:
        with self.lock:
            self.payments.clear()
            self._by_originator = {}
            self._index_of = (id(self.payments), 0)
            self.stk_requests.clear()
            self.rejected_requests.clear()
            self.callbacks.clear()
            self.utility_balance = self._initial_float if float_balance is None else Decimal(float_balance)
            self.b2b_payments.clear()
            self.working_balance = self._initial_working
            self._save()

    # --- Persistence ---------------------------------------------------------------------------------

    def _save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write a temporary file beside the ledger, then rename: readers see the old or the new file, never half.
        handle, temporary = tempfile.mkstemp(prefix=".ledger-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(self.snapshot(), out, indent=2)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _load(self) -> None:
        assert self.path is not None
        data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        self.payments = [_from_dict(PaymentRecord, p) for p in data.get("payments", [])]
        self.stk_requests = [_from_dict(StkRecord, s) for s in data.get("stk_requests", [])]
        self.rejected_requests = list(data.get("rejected_requests", []))
        self.callbacks = list(data.get("callbacks", []))
        self.utility_balance = Decimal(str(data.get("utility_balance", self._initial_float)))
        self.b2b_payments = [_from_dict(B2BRecord, b) for b in data.get("b2b_payments", [])]
        self.working_balance = Decimal(str(data.get("working_balance", self._initial_working)))
