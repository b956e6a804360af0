"""The worker survives its broker: a private redis-server (its own port, in memory only, started by the
test) is the Celery broker of a real threads-pool worker, as in docker-compose.yml, and is stopped and
started again while 100 payouts are sent. The worker reconnects by itself (the same process, never
restarted by anyone) and every payout is sent exactly once: none lost, none twice."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from daraja_simulator import B2C_SCENARIOS
from payments.models import AuditEvent, Payout, PayoutStatus
from tests.factories import make_approver, make_requester
from tests.integration.conftest import approved_payout, publish_tasks, wait_until, worker_environment

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    # Its worker is a real process on the real clock: under `--clock` the sweep would see the payouts planted
    # "two minutes ago" as hours away and never send them.
    pytest.mark.real_clock,
]

PAYOUTS = 100
OUTAGES = 2
SEND_TASK = "payments.tasks.send_payout"
SWEEP_TASK = "payments.tasks.sweep_payouts"


def _phones(count: int) -> list[str]:
    phones, n = [], 0
    while len(phones) < count:
        phone = f"25473{n:07d}"
        if phone[-3:] not in B2C_SCENARIOS:
            phones.append(phone)
        n += 1
    return phones


def test_worker_reconnects_after_redis_restarts_and_sends_each_payout_once(
    live_daraja, callback_base_url, e2e_redis, e2e_worker, private_redis
):
    simulator = live_daraja
    _, cache_url = e2e_redis
    broker = private_redis()
    requester, approver = make_requester(), make_approver()
    # Approved two minutes ago: beat's sweep re-queues an approved payout whose message an outage lost.
    long_ago = timezone.now() - timedelta(minutes=2)
    payouts = [
        approved_payout(phone=phone, amount=Decimal("100.00"), requested_by=requester, approver=approver,
                        status_changed_at=long_ago)
        for phone in _phones(PAYOUTS)
    ]  # fmt: skip
    ids = [p.pk for p in payouts]
    env = worker_environment(
        simulator=simulator, broker_url=broker.url, callback_base_url=callback_base_url, REDIS_URL=cache_url
    )
    # As docker-compose.yml and `make run` start it.
    worker = e2e_worker(env, pool="threads", concurrency=8)
    pid = worker.pid

    batch = PAYOUTS // (OUTAGES + 1)
    for outage in range(OUTAGES):
        # Sends are in flight (taken, being sent, being acknowledged) when the broker goes away.
        chunk = ids[outage * batch : (outage + 1) * batch]
        publish_tasks(broker.url, SEND_TASK, [(pk,) for pk in chunk])
        target = simulator.payment_count() + batch // 3
        wait_until(lambda t=target: simulator.payment_count() >= t, 60, interval=0.002, message=f"{target} payments")
        broker.stop(timeout=5)  # our redis-server only; in memory, so what it held is gone
        time.sleep(3)
        assert worker.alive(), worker.log()[-3000:]
        broker = private_redis()  # same port, empty
        wait_until(lambda n=outage: worker.log().count("Connected to redis://") >= n + 2, 60, message="reconnected")
    publish_tasks(broker.url, SEND_TASK, [(pk,) for pk in ids[OUTAGES * batch :]])

    # What the outages lost, beat's sweep sends (its task, run here as beat would, every 5 s).
    def all_sent() -> bool:
        assert worker.alive(), f"the worker exited:\n{worker.log()[-4000:]}"
        pending = Payout.objects.filter(status__in=[PayoutStatus.APPROVED, PayoutStatus.SENDING]).exists()
        if pending:
            publish_tasks(broker.url, SWEEP_TASK, [()])
        return not pending

    wait_until(all_sent, 120, interval=5, message="every payout sent")
    assert simulator.server.wait_for_callbacks(30)
    wait_until(
        lambda: not Payout.objects.filter(status=PayoutStatus.SUBMITTED).exists(), 30, interval=0.2,
        message="every payout settled by its Result",
    )  # fmt: skip
    assert worker.alive() and worker.pid == pid  # the same process: nobody restarted it
    log = worker.log()
    assert "Unrecoverable error" not in log, log[-4000:]

    ledger = simulator.assert_nothing_paid_twice()
    assert ledger["duplicate_attempts"] == []
    assert ledger["count"] == PAYOUTS
    assert {p["originator_conversation_id"] for p in ledger["payments"]} == {
        p.originator_conversation_id for p in payouts
    }
    assert Counter(Payout.objects.values_list("status", flat=True)) == {PayoutStatus.COMPLETED: PAYOUTS}
    claims = Counter(AuditEvent.objects.filter(action="sending").values_list("payout_id", flat=True))
    assert len(claims) == PAYOUTS and set(claims.values()) == {1}
    print(f"\n{PAYOUTS} payouts, {OUTAGES} broker outages; reconnects {log.count('Connected to redis://') - 1}")


def test_make_run_starts_an_exited_process_again_and_keeps_the_others(tmp_path):
    """scripts/run_local.py (`make run`) used to stop everything when one process exited; now that process is
    started again, with a growing delay, and the others are left running."""
    import importlib.util
    import sys

    from tests.e2e.support import ROOT

    spec = importlib.util.spec_from_file_location("run_local", ROOT / "scripts" / "run_local.py")
    run_local = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_local)
    runs = tmp_path / "runs"
    crashing = run_local.Supervised(
        "worker", [sys.executable, "-c", f"open({str(runs)!r}, 'a').write('x'); raise SystemExit(3)"], {}
    )
    steady = run_local.Supervised("web", [sys.executable, "-c", "import time; time.sleep(60)"], {})
    for supervised in (crashing, steady):
        supervised.start()
    first_web = steady.proc.pid
    try:
        wait_until(
            lambda: (crashing.poll(time.monotonic()), steady.poll(time.monotonic()), crashing.restarts >= 2)[-1],
            30, interval=0.1, message="the crashing process started again twice",
        )  # fmt: skip
        wait_until(lambda: runs.exists() and len(runs.read_text()) >= 3, 10, message="three runs")
        assert steady.proc.poll() is None and steady.proc.pid == first_web and steady.restarts == 0
        assert crashing.delay >= 4.0  # 1 s, then 2 s, then 4 s: doubling while it keeps exiting at once
    finally:
        for supervised in (crashing, steady):
            if supervised.proc.poll() is None:
                supervised.proc.kill()
                supervised.proc.wait()
