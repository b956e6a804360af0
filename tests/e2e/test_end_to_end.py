"""The whole system on real processes, driven from outside as its users and Safaricom drive it.

gunicorn (deploy/gunicorn.conf.py) serves the API, the admin and the callbacks from the test's PostgreSQL
database; a Celery worker with beat embedded takes its tasks from Redis; the Daraja simulator pays and posts
its callbacks to gunicorn; a fake WhatsApp Cloud API on loopback receives the admins' alerts. The test only
speaks HTTP to them (and reads the database to check):

1. a C2B payment arrives (Safaricom's confirmation) -> stored, admins told;
2. the requester asks for a refund through the API, the approver (another person) approves it, the worker
   sends it, the simulator's Result settles it `completed`, the admins are told;
3. a CSV disbursement batch is uploaded and approved in the admin: each row is paid or fails as M-Pesa says;
4. a payout whose request times out in M-Pesa's queue is settled by beat's sweep with a Transaction Status
   query, never sent again.
At the end every notification was delivered exactly once and the simulator's ledger (GET /simulator/ledger)
agrees with the database, with no OriginatorConversationID paid twice.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from decimal import Decimal

import pytest
import requests
from django.urls import reverse
from rest_framework.authtoken.models import Token

from daraja_simulator import phone_for
from notifications.models import Alert, Notification, NotificationStatus
from payments.callbacks.tokens import static_token
from payments.models import AuditEvent, Payment, Payout, PayoutBatch, PayoutStatus
from tests.e2e.support import ADMIN_NUMBERS, AdminSession, ApiClient, set_login_password
from tests.factories import make_approver, make_requester, sample
from tests.integration.conftest import wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "e2e-Pass-word-2026"
WAIT = 30.0


def _status(payout_id: int) -> str:
    return Payout.objects.values_list("status", flat=True).get(pk=payout_id)


def _wait_status(api: ApiClient, payout_id: int, statuses: set[str], timeout: float = WAIT) -> dict:
    def reached():
        body = api.get(f"/api/payouts/{payout_id}/").json()
        return body if body["status"] in statuses else None

    return wait_until(reached, timeout, interval=0.2, message=f"payout {payout_id} to reach {statuses}")


def _actions(detail: dict) -> list[str]:
    return [event["action"] for event in detail["events"]]


def _in_order(actions: list[str], expected: list[str]) -> bool:
    remaining = iter(actions)
    return all(action in remaining for action in expected)


def _ledger(simulator_url: str) -> dict:
    response = requests.get(f"{simulator_url}/simulator/ledger", timeout=5)
    response.raise_for_status()
    return response.json()


def _notifications_settled() -> bool:
    return not Notification.objects.exclude(status=NotificationStatus.SENT).exists()


def test_payment_refund_batch_and_timeout_on_real_processes(running_system, tmp_path):
    system = running_system
    started = time.monotonic()
    requester, approver = make_requester("rita"), make_approver("alan")
    for user in (requester, approver):
        set_login_password(user, PASSWORD)
    as_requester = ApiClient(system.url, Token.objects.create(user=requester).key)
    as_approver = ApiClient(system.url, Token.objects.create(user=approver).key)

    # --- 1. A C2B payment arrives ----------------------------------------------------------------------------
    receipt = f"E2E{uuid.uuid4().hex[:7].upper()}"
    confirmation = {
        **sample("c2b_confirmation"),
        "TransID": receipt,
        "TransAmount": "1500.00",
        "MSISDN": "254708374149",
        "BillRefNumber": "ORDER-1001",
        "FirstName": "WANJIKU",
    }
    c2b_url = system.url + reverse("callbacks:c2b-confirmation", kwargs={"token": static_token("c2b")})
    answer = requests.post(c2b_url, json=confirmation, timeout=10)
    assert answer.status_code == 200 and answer.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    # The same confirmation again (Safaricom retries): accepted, not a second payment.
    assert requests.post(c2b_url, json=confirmation, timeout=10).status_code == 200
    payment = Payment.objects.get(receipt=receipt)
    assert payment.status == "completed" and payment.amount == Decimal("1500.00")
    listed = as_requester.get("/api/payments/", params={"receipt": receipt}).json()["results"]
    assert [row["id"] for row in listed] == [payment.pk]

    # --- 2. A refund: requested, refused to its own requester, approved by another, sent, settled -------------
    refund_body = {"amount": "500", "reason": "Customer returned the goods"}
    key = {"Idempotency-Key": f"refund-{uuid.uuid4()}"}
    created = as_requester.post(f"/api/payments/{payment.pk}/refund/", refund_body, headers=key)
    assert created.status_code == 201, created.text
    refund = created.json()
    assert refund["status"] == PayoutStatus.PENDING_APPROVAL and refund["kind"] == "refund"
    assert refund["phone"] == "254708374149" and refund["amount"] == "500.00"
    replay = as_requester.post(f"/api/payments/{payment.pk}/refund/", refund_body, headers=key)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json()["id"] == refund["id"]
    assert Payout.objects.filter(payment=payment).count() == 1

    own = as_requester.post(f"/api/payouts/{refund['id']}/approve/")
    assert own.status_code == 403 and _status(refund["id"]) == PayoutStatus.PENDING_APPROVAL
    approved = as_approver.post(f"/api/payouts/{refund['id']}/approve/")
    assert approved.status_code == 200, approved.text

    detail = _wait_status(as_approver, refund["id"], {PayoutStatus.COMPLETED, PayoutStatus.FAILED})
    assert detail["status"] == PayoutStatus.COMPLETED, detail
    assert detail["transaction_id"] and detail["result_code"] == "0"
    assert _in_order(_actions(detail), ["requested", "approved", "sending", "completed"]), _actions(detail)
    assert [a["approver"] for a in detail["approvals"]] == ["alan"]
    after = as_requester.get(f"/api/payments/{payment.pk}/").json()
    assert (after["refunded_amount"], after["refundable_amount"]) == ("500.00", "1000.00")

    # --- 3. A disbursement batch, uploaded and approved in the admin -------------------------------------------
    rows = [
        ("0712000101", "1500", "Jane Wanjiru", "INV-1042"),
        ("254722000102", "2300", "Otieno Juma", "INV-1043"),
        ("0733000103", "800", "Achieng Atieno", "INV-1044"),
        (phone_for("001"), "450", "Float Short", "INV-1045"),  # the simulator answers ResultCode 1
    ]
    csv_text = "phone,amount,recipient name,reference,remarks\n" + "".join(
        f"{phone},{amount},{name},{ref},March trainer fee\n" for phone, amount, name, ref in rows
    )
    admin_requester = AdminSession(system.url).login("rita", PASSWORD)
    uploaded = admin_requester.post(
        "/admin/payments/payout/bulk-upload/",
        {"name": "March trainers", "command_id": "BusinessPayment"},
        files={"file": ("march.csv", csv_text.encode(), "text/csv")},
    )
    # A preview first (nothing created yet), then the confirmation creates the batch.
    assert uploaded.status_code == 200 and "4 rows will become payouts" in uploaded.text, uploaded.text[-2000:]
    token = re.search(r'name="token" value="([^"]+)"', uploaded.text).group(1)
    created = admin_requester.post("/admin/payments/payout/bulk-upload/confirm/", {"token": token})
    assert created.status_code == 200 and "/admin/payments/payoutbatch/" in created.url, created.text[-2000:]
    batch = PayoutBatch.objects.get(name="March trainers")
    batch_ids = sorted(batch.payouts.values_list("pk", flat=True))
    assert len(batch_ids) == len(rows)
    assert set(Payout.objects.filter(pk__in=batch_ids).values_list("status", flat=True)) == {"pending_approval"}

    admin_approver = AdminSession(system.url).login("alan", PASSWORD)
    confirm_page = admin_approver.get(f"/admin/payments/payout/approve/?batch={batch.pk}")
    assert confirm_page.status_code == 200 and "Yes, approve 4 payouts" in confirm_page.text
    decided = admin_approver.post(
        "/admin/payments/payout/approve/", {"ids": ",".join(map(str, batch_ids)), "confirm": "1"}
    )
    assert decided.status_code == 200 and "approved; it will be sent" in decided.text

    wait_until(
        lambda: (
            set(Payout.objects.filter(pk__in=batch_ids).values_list("status", flat=True))
            <= {PayoutStatus.COMPLETED, PayoutStatus.FAILED}
        ),
        WAIT,
        interval=0.2,
        message="every batch payout settled",
    )
    by_phone = {p.phone: p for p in Payout.objects.filter(pk__in=batch_ids)}
    assert by_phone[phone_for("001")].status == PayoutStatus.FAILED
    assert by_phone[phone_for("001")].result_code == "1"
    assert {p.status for phone, p in by_phone.items() if phone != phone_for("001")} == {PayoutStatus.COMPLETED}

    # --- 4. A timeout in M-Pesa's queue, settled by a status query (beat's sweep), never resent ---------------
    created = as_requester.post(
        "/api/payouts/",
        {"phone": phone_for("011"), "amount": "750", "remarks": "Supplier invoice 77", "recipient_name": "Kamau"},
    )
    assert created.status_code == 201, created.text
    timed_out = created.json()["id"]
    assert as_approver.post(f"/api/payouts/{timed_out}/approve/").status_code == 200
    detail = _wait_status(as_approver, timed_out, {PayoutStatus.COMPLETED, PayoutStatus.FAILED, "needs_review"})
    assert detail["status"] == PayoutStatus.COMPLETED, detail
    expected = ["approved", "sending", "queue_timeout", "status_query", "completed"]
    assert _in_order(_actions(detail), expected), _actions(detail)
    completed_event = AuditEvent.objects.get(payout_id=timed_out, action="completed")
    assert completed_event.from_status == PayoutStatus.VERIFYING
    assert completed_event.callback.kind == "status_result"  # settled by the Transaction Status answer

    # --- The simulator's ledger agrees with the database ------------------------------------------------------
    assert system.simulator.server.wait_for_callbacks(15)
    ledger = _ledger(system.simulator.url)
    assert ledger["paid_more_than_once"] == [] and ledger["duplicate_attempts"] == []
    ocids = Counter(p["originator_conversation_id"] for p in ledger["payments"])
    assert set(ocids.values()) == {1}, ocids
    sent = Payout.objects.exclude(status__in=["pending_approval", "approved", "rejected"])
    assert set(ocids) == set(sent.values_list("originator_conversation_id", flat=True))
    paid = {p["originator_conversation_id"] for p in ledger["payments"] if p["outcome"] == "paid"}
    completed = Payout.objects.filter(status=PayoutStatus.COMPLETED)
    assert paid == set(completed.values_list("originator_conversation_id", flat=True))
    assert completed.count() == 5 and Payout.objects.filter(status=PayoutStatus.FAILED).count() == 1
    for payout in completed:
        assert payout.send_attempts == 1
        assert AuditEvent.objects.filter(payout=payout, action="completed").count() == 1

    # --- Every alert delivered to WhatsApp, each exactly once ------------------------------------------------
    wait_until(_notifications_settled, WAIT, interval=0.2, message="every notification sent")
    alerts = Counter(Notification.objects.values_list("alert", flat=True))
    n = len(ADMIN_NUMBERS)
    assert alerts[Alert.PAYMENT_RECEIVED] == n
    assert alerts[Alert.APPROVAL_REQUESTED] == 3 * n  # the refund, the batch (once), the timed-out payout
    assert alerts[Alert.PAYOUT_COMPLETED] == 5 * n
    assert alerts[Alert.PAYOUT_FAILED] == n
    rows_sent = list(Notification.objects.values_list("provider_message_id", "to", "payout_id", "alert"))
    received = system.whatsapp.messages()
    assert Counter(m.message_id for m in received) == Counter(mid for mid, *_ in rows_sent)  # once each
    assert {m.to for m in received} == set(ADMIN_NUMBERS)
    assert all(m.authorization.endswith(system.env["WHATSAPP_ACCESS_TOKEN"]) for m in received)
    refund_texts = [m.text for m in received if f"#{refund['id']}" in m.text]
    assert any("completed" in text.lower() for text in refund_texts), refund_texts

    print(
        f"\nend to end: 1 payment, 1 refund, a batch of {len(rows)}, 1 timeout settled by status query; "
        f"{len(received)} WhatsApp messages; ledger {ledger['count']} payments ({ledger['paid_count']} paid); "
        f"{time.monotonic() - started:.1f} s"
    )
