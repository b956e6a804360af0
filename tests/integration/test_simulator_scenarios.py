"""Every row of the simulator's B2C scenario table (docs/simulator.md), driven through the real app over real
HTTP: `payout_send` and `payout_query_status` talk to an in-process SimulatorServer with the app's own Daraja
client, and the simulator's callbacks arrive at the live Django server (real URL routes, IP allow-list, URL
tokens, raw storage, settlement). Each payout must end in the state the scenario implies, and the
simulator's ledger, which knows what was really paid, must agree with it and never show an
OriginatorConversationID twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from daraja_simulator import B2C_SCENARIOS, phone_for
from payments.models import CallbackKind, CallbackOutcome, DarajaCallback, Payout, PayoutStatus
from payments.payouts import dispatch
from tests.integration.conftest import (
    SIM_CONSUMER_KEY,
    SIM_CONSUMER_SECRET,
    RunningSimulator,
    approved_payout,
    wait_until,
)

MAX_QUERIES = 2  # PAYOUT_MAX_STATUS_QUERIES in these tests
WAIT = 10.0  # the longest any single wait may take


@dataclass(frozen=True)
class Row:
    suffix: str
    name: str
    sends: tuple[str, ...]  # outcomes of successive payout_send calls (a Celery retry calls it again)
    after_send: str  # the status once the callbacks the send caused have arrived
    end: str  # the status at the end
    result_code: str | None = "0"  # None: not checked
    by_status_query: bool = False  # the end state comes from Transaction Status queries
    ledger: str | None = "paid"  # the simulator's outcome for the payout's id; None: nothing recorded
    read_timeout: float | None = None  # MPESA_READ_TIMEOUT for this row


S = PayoutStatus
ROWS = [
    Row("999", "success", ("submitted",), S.COMPLETED, S.COMPLETED),
    Row("001", "insufficient_balance", ("submitted",), S.FAILED, S.FAILED, "1", ledger="failed"),
    Row("002", "initiator_invalid", ("submitted",), S.FAILED, S.FAILED, "2001", ledger="failed"),
    Row("003", "unregistered_customer", ("submitted",), S.FAILED, S.FAILED, "2040", ledger="failed"),
    Row("004", "credential_locked", ("submitted",), S.FAILED, S.FAILED, "8006", ledger="failed"),
    Row("005", "operator_missing", ("submitted",), S.FAILED, S.FAILED, "SFC_IC0003", ledger="failed"),
    Row("006", "failure_single_parameter", ("submitted",), S.FAILED, S.FAILED, "21", ledger="failed"),
    # A Result saying 15 or 17 proves nothing: verifying, then the status query finds the payment.
    Row("015", "duplicate_detected_paid", ("submitted",), S.VERIFYING, S.COMPLETED, by_status_query=True),
    Row("017", "internal_failure_paid", ("submitted",), S.VERIFYING, S.COMPLETED, by_status_query=True),
    Row("010", "timeout_echo_unpaid", ("submitted",), S.VERIFYING, S.NEEDS_REVIEW, None, True, "not_processed"),
    Row("011", "timeout_echo_paid", ("submitted",), S.VERIFYING, S.COMPLETED, by_status_query=True),
    Row("012", "timeout_result_unpaid", ("submitted",), S.VERIFYING, S.NEEDS_REVIEW, None, True, "not_processed"),
    Row("013", "timeout_result_paid", ("submitted",), S.VERIFYING, S.COMPLETED, by_status_query=True),
    Row("020", "result_thrice", ("submitted",), S.COMPLETED, S.COMPLETED),
    Row("021", "result_before_answer", ("submitted",), S.COMPLETED, S.COMPLETED),
    Row("022", "no_callback", ("submitted",), S.SUBMITTED, S.COMPLETED, by_status_query=True),
    Row(
        "030",
        "spike_arrest",
        ("retry",) * (dispatch.MAX_SEND_ATTEMPTS - 1) + ("failed",),
        S.FAILED,
        S.FAILED,
        "500.003.02",
        ledger=None,
    ),
    Row("031", "spike_arrest_first", ("retry", "submitted"), S.COMPLETED, S.COMPLETED),
    Row("032", "duplicate", ("verifying",), S.VERIFYING, S.COMPLETED, by_status_query=True),
    Row("040", "slow_answer", ("verifying",), S.VERIFYING, S.COMPLETED, by_status_query=True, read_timeout=0.5),
]


def test_every_row_of_the_scenario_table_is_driven():
    assert {row.suffix for row in ROWS} == set(B2C_SCENARIOS) | {"999"}
    assert all(B2C_SCENARIOS[row.suffix].name == row.name for row in ROWS if row.suffix in B2C_SCENARIOS)


def _status(payout: Payout) -> str:
    return Payout.objects.values_list("status", flat=True).get(pk=payout.pk)


def _callbacks(payout: Payout, kind: str):
    return DarajaCallback.objects.filter(payout=payout, kind=kind).order_by("id")


def _send(payout: Payout, row: Row) -> list[str]:
    """payout_send as the Celery task would call it: again after each `retry`, up to the attempts allowed."""
    outcomes = []
    for _ in range(dispatch.MAX_SEND_ATTEMPTS):
        result = dispatch.payout_send(payout_id=payout.pk)
        outcomes.append(result.outcome)
        if result.outcome != "retry":
            break
        assert result.retry_in and result.retry_in > 0
    return outcomes


def _settle_by_status_queries(payout: Payout, simulator: RunningSimulator) -> list[str]:
    """Ask until the payout is settled or handed to a person; each answer is waited for."""
    outcomes = []
    for _ in range(MAX_QUERIES + 2):
        outcome = dispatch.payout_query_status(payout_id=payout.pk)
        outcomes.append(outcome)
        if outcome != "queried":
            break
        assert simulator.server.wait_for_callbacks(WAIT), "the status result was not posted in time"
        if _status(payout) not in (S.SENDING, S.SUBMITTED, S.VERIFYING):
            break
    return outcomes


# PostgreSQL only: the simulator's callback threads, the live server and the test write at the same moment,
# which SQLite (the suite's fallback) does not survive.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("row", ROWS, ids=[f"{r.suffix}-{r.name}" for r in ROWS])
def test_scenario_drives_payout_to_its_end_state(row: Row, live_daraja: RunningSimulator, settings):
    simulator = live_daraja
    settings.PAYOUT_MAX_STATUS_QUERIES = MAX_QUERIES
    if row.read_timeout is not None:
        settings.MPESA_READ_TIMEOUT = row.read_timeout
    payout = approved_payout(phone=phone_for(row.suffix), amount=Decimal("150.00"))
    ocid = payout.originator_conversation_id

    # 1. Send, as the task would (and again after each retryable refusal).
    assert tuple(_send(payout, row)) == row.sends

    # 2. The callbacks the send caused (if any) arrive at the live server and move the payout.
    assert simulator.server.wait_for_callbacks(WAIT)
    wait_until(lambda: _status(payout) == row.after_send, WAIT, message=f"status {row.after_send}")

    # 3. An unknown or overdue outcome is settled by asking, as the sweep would.
    if row.by_status_query:
        if row.after_send == S.SUBMITTED:
            Payout.objects.filter(pk=payout.pk).update(
                status_changed_at=timezone.now() - timedelta(minutes=settings.PAYOUT_RESULT_DEADLINE_MINUTES + 1)
            )
        assert payout.pk in set(dispatch.payouts_due_for_status_query())
        queries = _settle_by_status_queries(payout, simulator)
        if row.end == S.NEEDS_REVIEW:
            assert queries == ["queried"] * MAX_QUERIES + ["needs_review"]
        else:
            assert queries == ["queried"]

    # 4. The end state and what it records.
    payout.refresh_from_db()
    assert payout.status == row.end
    if row.result_code is not None:
        assert payout.result_code == row.result_code
    actions = list(payout.events.order_by("id").values_list("action", flat=True))
    assert actions[0] == "sending"
    assert actions.count("sending") == len(row.sends)
    if row.end == S.COMPLETED:
        assert actions.count("completed") == 1
        assert payout.transaction_id and payout.transaction_id.startswith("SIM")
        assert payout.completed_at is not None
    if row.end == S.FAILED:
        assert actions.count("failed") == 1
        assert not payout.transaction_id
    if row.end == S.NEEDS_REVIEW:
        assert payout.status_queries_sent == MAX_QUERIES
        assert "Transaction Status" in payout.review_reason
        assert _callbacks(payout, CallbackKind.STATUS_RESULT).count() == MAX_QUERIES  # each answered "not found"

    # 5. The ledger ("what M-Pesa did") agrees, and nothing reached it twice.
    ledger = simulator.assert_nothing_paid_twice()
    records = simulator.payments_for(ocid)
    if row.ledger is None:
        assert records == []
    else:
        assert [r["outcome"] for r in records] == [row.ledger]
        record = records[0]
        assert record["amount"] == 150 and record["phone"] == payout.phone
        if row.end == S.COMPLETED:
            assert payout.transaction_id == record["transaction_id"]
        # One B2C request from us; row 032 also counts the "earlier request" it pretends to have had.
        assert record["duplicate_attempts"] == (1 if row.suffix == "032" else 0)
    rejected = [r for r in ledger["rejected_requests"] if r["originator_conversation_id"] == ocid]
    assert len(rejected) == row.sends.count("retry") + (1 if row.suffix == "030" else 0)
    # Every callback got through the allow-list and the URL token check.
    assert not DarajaCallback.objects.filter(outcome=CallbackOutcome.REJECTED).exists()
    assert all(c["status"] == 200 for c in ledger["callbacks"]), ledger["callbacks"]

    _row_specific_checks(row, payout, simulator, actions)


def _row_specific_checks(row: Row, payout: Payout, simulator: RunningSimulator, actions: list[str]) -> None:
    results = _callbacks(payout, CallbackKind.B2C_RESULT)
    if row.suffix == "020":
        # Three deliveries of one Result (two at the same instant): one settles, two are duplicates.
        assert sorted(results.values_list("outcome", flat=True)) == [
            CallbackOutcome.DUPLICATE,
            CallbackOutcome.DUPLICATE,
            CallbackOutcome.PROCESSED,
        ]
    elif row.suffix == "021":
        # The Result settled it before our send had its answer; the answer's ConversationID is still kept.
        assert actions == ["sending", "completed"]
        assert payout.conversation_id == simulator.payments_for(payout.originator_conversation_id)[0]["conversation_id"]
        assert payout.submitted_at is not None
    elif row.suffix == "022":
        assert not results.exists()
        assert actions == ["sending", "submitted", "status_query", "completed"]
    elif row.suffix == "030":
        assert payout.send_attempts == dispatch.MAX_SEND_ATTEMPTS
        assert actions == ["sending", "send_retry"] * (dispatch.MAX_SEND_ATTEMPTS - 1) + ["sending", "failed"]
    elif row.suffix == "031":
        assert payout.send_attempts == 2
        assert actions[:4] == ["sending", "send_retry", "sending", "submitted"]
    elif row.suffix == "032":
        assert actions == ["sending", "outcome_unknown", "status_query", "completed"]
        assert payout.events.get(action="outcome_unknown").details["code"] == "500.002.1001"
    elif row.suffix == "040":
        # The read timeout made the outcome unknown; the status query settled it; the late Result that
        # follows the slow answer is recorded as a duplicate and changes nothing.
        assert payout.events.get(action="outcome_unknown").details["code"] == "read_timeout"
        assert payout.events.get(action="completed").callback.kind == CallbackKind.STATUS_RESULT
        late = wait_until(
            lambda: list(_callbacks(payout, CallbackKind.B2C_RESULT).filter(processed_at__isnull=False)),
            WAIT,
            message="the late Result to be processed",
        )
        assert [c.outcome for c in late] == [CallbackOutcome.DUPLICATE]
        assert payout.events.filter(action="completed").count() == 1
    elif row.suffix in ("015", "017"):
        result = results.get()
        assert (result.outcome, result.result_code) == (CallbackOutcome.PROCESSED, row.suffix[1:])
        assert actions == ["sending", "submitted", "result_unknown", "status_query", "completed"]
        assert payout.events.get(action="completed").callback.kind == CallbackKind.STATUS_RESULT
    elif row.suffix == "006":
        # The placeholder TransactionID is no receipt.
        assert results.get().outcome == CallbackOutcome.PROCESSED
        assert payout.transaction_id is None
    elif row.suffix in ("010", "011"):
        assert _callbacks(payout, CallbackKind.B2C_TIMEOUT).get().outcome == CallbackOutcome.PROCESSED
    elif row.suffix in ("012", "013"):
        timeout = _callbacks(payout, CallbackKind.B2C_TIMEOUT).get()
        assert (timeout.outcome, timeout.result_code) == (CallbackOutcome.PROCESSED, "1037")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_hashed_msisdn_c2b_confirmation_from_the_simulator_becomes_a_payment(live_daraja: RunningSimulator):
    """C2B register + simulate against the simulator; its confirmation, with the MSISDN as a SHA-256 hex,
    reaches the live server's confirmation URL and is stored whole."""
    import hashlib

    import requests

    from payments.callbacks.tokens import static_token
    from payments.models import Payment

    simulator = live_daraja
    token = requests.get(f"{simulator.url}/oauth/v1/generate?grant_type=client_credentials",
                         auth=(SIM_CONSUMER_KEY, SIM_CONSUMER_SECRET), timeout=5).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    base = settings_base_url()
    registered = requests.post(f"{simulator.url}/mpesa/c2b/v2/registerurl", headers=headers, timeout=5, json={
        "ShortCode": "600984", "ResponseType": "Completed",
        "ConfirmationURL": f"{base}/callbacks/c2b/confirmation/{static_token('c2b')}/",
        "ValidationURL": f"{base}/callbacks/c2b/validation/{static_token('c2b')}/",
    })  # fmt: skip
    assert registered.status_code == 200
    msisdn = phone_for("064")
    paid = requests.post(f"{simulator.url}/mpesa/c2b/v1/simulate", headers=headers, timeout=5, json={
        "ShortCode": "600984", "CommandID": "CustomerPayBillOnline", "Amount": 250, "Msisdn": msisdn,
        "BillRefNumber": "ORDER-64",
    })  # fmt: skip
    assert paid.status_code == 200
    assert simulator.server.wait_for_callbacks(WAIT)
    payment = wait_until(lambda: Payment.objects.filter(account_reference="ORDER-64").first(), WAIT,
                         message="the C2B payment")
    assert payment.phone == hashlib.sha256(msisdn.encode()).hexdigest()
    assert payment.amount == Decimal("250.00")
    assert all(c["status"] == 200 for c in simulator.ledger()["callbacks"])


def settings_base_url() -> str:
    from django.conf import settings

    return settings.CALLBACK_BASE_URL.rstrip("/")
