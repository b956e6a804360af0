"""Approving while the broker is down: the approval stands at once and the sweep sends it later."""

import time

import pytest
from kombu import Connection

from payments.payouts.services import queue_send, queue_sends

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(monkeypatch):
    from mpesa_payouts.celery import app

    dead = Connection("redis://127.0.0.1:1/0", connect_timeout=1)  # nothing listens on port 1
    monkeypatch.setattr(app, "_pool", dead.Pool(limit=1))


def test_queue_send_with_broker_down_returns_quickly_and_logs(caplog, broker_down):
    started = time.monotonic()
    with caplog.at_level("WARNING"):
        queue_send(12345)
    elapsed = time.monotonic() - started
    assert elapsed < 3
    assert "could not queue payout 12345 (OperationalError)" in caplog.text


def test_sends_approved_together_with_broker_down_return_quickly_and_log(caplog, broker_down):
    started = time.monotonic()
    with caplog.at_level("WARNING"):
        queue_sends(list(range(1, 46)))
    assert time.monotonic() - started < 3
    assert "could not queue 45 approved payouts (OperationalError); the sweep will send them" in caplog.text
