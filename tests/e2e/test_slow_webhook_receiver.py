"""Fault: a webhook receiver answers one byte a second (never tripping a read timeout) while payouts are
approved. Before webhooks had a queue and a worker of their own, 8 such deliveries held all 8 threads of the
one worker and a payout approved meanwhile waited for them (200 s in the attack). On the running system as
`make run` starts it (payout worker, side worker, beat, gunicorn, simulator), the payout is submitted within
seconds while the side worker's threads are all still held by the receiver.

Bounded: the receiver stops each answer after 40 s by itself; the test fails after 5 s of waiting.
"""

from __future__ import annotations

import time

import pytest
from rest_framework.authtoken.models import Token

from payments.models import Payout, PayoutStatus
from tests.e2e.support import ApiClient
from tests.factories import make_approver, make_requester, make_user
from tests.integration.conftest import wait_until
from tests.webhooks.receiver import SlowReceiver

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

SUBMITTED_WITHIN = 5.0


@pytest.fixture
def slow_receiver():
    server = SlowReceiver(interval=1.0, max_seconds=40).start()
    try:
        yield server
    finally:
        server.stop()


def test_a_payout_is_submitted_within_seconds_while_a_receiver_drips_its_answers(running_system, slow_receiver):
    base = running_system.url
    owner = make_user("integrator-admin", is_staff=True, is_superuser=True)
    as_owner = ApiClient(base, Token.objects.create(user=owner).key)
    as_requester = ApiClient(base, Token.objects.create(user=make_requester("rita")).key)
    as_approver = ApiClient(base, Token.objects.create(user=make_approver("alan")).key)
    registered = as_owner.post("/api/webhook-endpoints/", {"url": slow_receiver.url(), "events": ["*"]})
    assert registered.status_code == 201, registered.text

    # Twelve payouts, twelve objects: more deliveries in flight than any worker has threads.
    ids = []
    for n in range(12):
        created = as_requester.post("/api/payouts/", {"phone": f"2547123456{n:02d}", "amount": "100",
                                                      "remarks": "Trainer fee"})  # fmt: skip
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    # Every thread that takes webhooks is now held by the receiver (the side worker has 4).
    wait_until(lambda: slow_receiver.count() >= 4, 30, interval=0.1, message="the receiver to hold 4 deliveries")

    approved_at = time.monotonic()
    answer = as_approver.post(f"/api/payouts/{ids[0]}/approve/")
    assert answer.status_code == 200, answer.text

    def submitted() -> bool:
        status = Payout.objects.values_list("status", flat=True).get(pk=ids[0])
        return status in {PayoutStatus.SUBMITTED, PayoutStatus.COMPLETED}

    wait_until(submitted, SUBMITTED_WITHIN, interval=0.1, message="the approved payout to be submitted")
    took = time.monotonic() - approved_at
    print(f"payout submitted {took:.1f} s after approval with a dripping webhook receiver")
