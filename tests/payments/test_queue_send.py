"""Approving while the broker is down: the approval stands at once and the sweep sends it later."""

import time

import pytest
from kombu import Connection

from payments.services.payouts import queue_send

pytestmark = pytest.mark.django_db


def test_queue_send_with_broker_down_returns_quickly_and_logs(caplog, monkeypatch):
    from mpesa_payouts.celery import app

    dead = Connection("redis://127.0.0.1:1/0", connect_timeout=1)  # nothing listens on port 1
    monkeypatch.setattr(app, "_pool", dead.Pool(limit=1))
    started = time.monotonic()
    with caplog.at_level("WARNING"):
        queue_send(12345)
    elapsed = time.monotonic() - started
    assert elapsed < 3
    assert "could not queue payout 12345 (OperationalError)" in caplog.text
