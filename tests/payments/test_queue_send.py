"""Approving while the broker is down: the approval stands at once and the sweep sends it later."""

import time

import pytest

from payments.services.payouts import queue_send

pytestmark = pytest.mark.django_db


def test_queue_send_with_broker_down_returns_quickly_and_logs(settings, caplog):
    from mpesa_payouts.celery import app

    old = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    app.pool.force_close_all()
    try:
        started = time.monotonic()
        with caplog.at_level("WARNING"):
            queue_send(12345)
        elapsed = time.monotonic() - started
    finally:
        app.conf.broker_url = old
        app.pool.force_close_all()
    assert elapsed < 3
    assert "could not queue payout 12345" in caplog.text
