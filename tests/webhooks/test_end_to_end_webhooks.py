"""Webhooks on real processes: gunicorn, a Celery worker with beat embedded on Redis, the Daraja simulator,
and a receiver on 127.0.0.1 that verifies every signature.

1. An endpoint is registered through the API; a C2B payment arrives, a refund and a disbursement are paid
   through the simulator, one disbursement fails (ResultCode 1) and one is rejected: each event reaches the
   receiver with a valid signature, in order per object.
2. The receiver goes down; a refund and a disbursement are paid meanwhile; the receiver comes back on the same
   port and everything arrives (retries, then beat's sweep), in order of creation per object.
3. `GET /api/events/` lists the same events, in the same order.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict

import pytest
import requests
from django.urls import reverse
from rest_framework.authtoken.models import Token

from daraja_simulator import phone_for
from payments.callbacks.tokens import static_token
from payments.models import Payment, Payout, PayoutStatus
from tests.e2e.support import ApiClient, free_port
from tests.factories import make_approver, make_requester, make_user, sample
from tests.integration.conftest import wait_until, worker_environment
from tests.webhooks.receiver import Receiver
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEvent

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    # gunicorn and the worker sign on the real clock; a receiver frozen hours away would refuse every signature.
    pytest.mark.real_clock,
]

WAIT = 45.0


@pytest.fixture
def system(simulator, e2e_redis, web_server, e2e_worker, tmp_path):
    broker_url, cache_url = e2e_redis
    port = free_port()
    env = worker_environment(
        simulator=simulator,
        broker_url=broker_url,
        callback_base_url=f"http://127.0.0.1:{port}",
        REDIS_URL=cache_url,
        PAYOUT_SWEEP_INTERVAL_SECONDS="2",
        WEBHOOK_RETRY_BASE_SECONDS="1",
        WEBHOOK_RETRY_MAX_SECONDS="2",
        WEBHOOK_PICKUP_AFTER_SECONDS="2",
        WEBHOOK_SWEEP_INTERVAL_SECONDS="2",
        WEBHOOK_CONNECT_TIMEOUT_SECONDS="2",
        WEBHOOK_READ_TIMEOUT_SECONDS="5",
    )
    web = web_server(env, port=port)
    worker = e2e_worker(env, pool="threads", concurrency=8,
                        extra_args=("--beat", "--schedule", str(tmp_path / "beat-schedule")))
    return web, worker


def _status(payout_id: int) -> str:
    return Payout.objects.values_list("status", flat=True).get(pk=payout_id)


def _wait_final(payout_id: int, statuses=(PayoutStatus.COMPLETED, PayoutStatus.FAILED)) -> str:
    return wait_until(lambda: _status(payout_id) if _status(payout_id) in statuses else None, WAIT, interval=0.2,
                      message=f"payout {payout_id} to reach {statuses}")


def _all_delivered() -> bool:
    return WebhookDelivery.objects.exists() and not WebhookDelivery.objects.exclude(
        status=DeliveryStatus.DELIVERED).exists()


def _expected_by_object() -> dict[str, list[str]]:
    order: dict[str, list[str]] = defaultdict(list)
    for object_key, event_id in WebhookEvent.objects.order_by("id").values_list("object_key", "event_id"):
        order[object_key].append(event_id)
    return order


def _received_by_object(receiver: Receiver) -> dict[str, list[str]]:
    order: dict[str, list[str]] = defaultdict(list)
    for r in receiver.accepted():
        body = r.body
        key = f"{'payment' if body['type'] == 'payment.received' else 'payout'}:{body['data']['id']}"
        if body["id"] not in order[key]:
            order[key].append(body["id"])
    return order


def test_events_reach_a_verifying_receiver_in_order_even_after_it_was_down(system, simulator):
    web, _ = system
    receiver = Receiver().start(port=free_port())
    port = receiver.port
    try:
        _run(web.url, receiver, port)
    finally:
        receiver.stop()


def _run(base: str, receiver: Receiver, port: int) -> None:
    started = time.monotonic()
    owner = make_user("integrator-admin", is_staff=True, is_superuser=True)
    requester, approver = make_requester("rita"), make_approver("alan")
    as_owner = ApiClient(base, Token.objects.create(user=owner).key)
    as_requester = ApiClient(base, Token.objects.create(user=requester).key)
    as_approver = ApiClient(base, Token.objects.create(user=approver).key)

    created = as_owner.post("/api/webhook-endpoints/", {"url": receiver.url(), "events": ["*"],
                                                         "description": "ERP"})
    assert created.status_code == 201, created.text
    receiver.secrets.append(created.json()["secret"])

    # --- 1. A payment, a refund, a paid disbursement, a failed one, a rejected one -------------------------
    receipt = f"WH{uuid.uuid4().hex[:8].upper()}"
    confirmation = {**sample("c2b_confirmation"), "TransID": receipt, "TransAmount": "2000.00",
                    "MSISDN": "254708374149"}
    c2b_url = base + reverse("callbacks:c2b-confirmation", kwargs={"token": static_token("c2b")})
    assert requests.post(c2b_url, json=confirmation, timeout=10).status_code == 200
    payment = Payment.objects.get(receipt=receipt)

    def refund(amount: str) -> int:
        answer = as_requester.post(f"/api/payments/{payment.pk}/refund/", {"amount": amount, "reason": "Returned"})
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def disbursement(phone: str, amount: str) -> int:
        answer = as_requester.post("/api/payouts/", {"phone": phone, "amount": amount, "remarks": "Trainer fee"})
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def approve(payout_id: int) -> None:
        answer = as_approver.post(f"/api/payouts/{payout_id}/approve/")
        assert answer.status_code == 200, answer.text

    first_refund, paid, failing, rejected = refund("500"), disbursement("254712345678", "300"), \
        disbursement(phone_for("001"), "450"), disbursement("254712345679", "120")
    for payout_id in (first_refund, paid, failing):
        approve(payout_id)
    assert as_approver.post(f"/api/payouts/{rejected}/reject/", {"reason": "Duplicate"}).status_code == 200
    assert _wait_final(first_refund) == _wait_final(paid) == PayoutStatus.COMPLETED
    assert _wait_final(failing) == PayoutStatus.FAILED
    wait_until(_all_delivered, WAIT, interval=0.2, message="every delivery of part 1")

    # Delivery is at least once (docs/webhooks.md): a receiver ignores an event id it has handled, and so does
    # this one. Under load a delivery can be repeated; an event is never missing or out of order.
    types, handled = defaultdict(list), set()
    for r in receiver.accepted():
        if r.body["id"] in handled:
            continue
        handled.add(r.body["id"])
        types[r.body["data"]["id"] if r.body["type"] != "payment.received" else "payment"].append(r.body["type"])
    assert types["payment"] == ["payment.received"]
    assert types[first_refund] == ["refund.requested", "payout.approved", "payout.sent", "payout.completed"]
    assert types[paid] == ["payout.requested", "payout.approved", "payout.sent", "payout.completed"]
    assert types[failing][-1] == "payout.failed" and types[failing][:2] == ["payout.requested", "payout.approved"]
    assert types[rejected] == ["payout.requested", "payout.rejected"]
    completed = next(r.body for r in receiver.accepted() if r.body["type"] == "payout.completed")
    assert completed["data"]["transaction_id"] and completed["data"]["status"] == "completed"

    # --- 2. The receiver is down while more money moves; it comes back; everything arrives, in order -------
    receiver.stop()
    down_refund, down_paid = refund("250"), disbursement("254712345670", "80")
    approve(down_refund)
    approve(down_paid)
    assert _wait_final(down_refund) == _wait_final(down_paid) == PayoutStatus.COMPLETED
    wait_until(lambda: WebhookDelivery.objects.filter(status="pending", attempts__gte=2).exists(), WAIT,
               interval=0.2, message="failed attempts while the receiver is down")
    assert not WebhookDelivery.objects.filter(event__payout_id=down_paid, status="delivered").exists()
    receiver.start(port=port)
    wait_until(_all_delivered, WAIT, interval=0.2, message="every delivery once the receiver is back")

    assert all(r.valid_with == receiver.secrets for r in receiver.got()), "every delivery is validly signed"
    assert _received_by_object(receiver) == _expected_by_object()  # all of them, in order of creation per object

    # --- 3. The feed lists the same events, in order --------------------------------------------------------
    feed, url = [], f"{base}/api/events/?page_size=5"
    while url:
        page = as_owner.get(url.replace(base, "")).json()
        feed += page["results"]
        url = page["next"]
    assert [e["id"] for e in feed] == list(WebhookEvent.objects.order_by("id").values_list("event_id", flat=True))
    assert {e["id"] for e in feed} == {r.body["id"] for r in receiver.accepted()}
    by_id = {r.body["id"]: r.body for r in receiver.accepted()}
    assert all(by_id[e["id"]] == e for e in feed)
    print(f"webhooks end to end: {len(feed)} events delivered in {time.monotonic() - started:.1f} s")
