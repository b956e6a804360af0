"""The queues as deployed: every task, beat's included, lands in a queue some worker of docker-compose.yml and
`make run` consumes, and nothing that waits on a partner (webhooks, WhatsApp) or runs for minutes (finance
jobs) lands in the queue of the worker that sends payouts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from mpesa_payouts.celery import app

ROOT = Path(__file__).resolve().parent.parent
PAYOUT_TASKS = (
    "payments.tasks.send_payout",
    "payments.tasks.send_payouts",
    "payments.tasks.query_payout_status",
    "payments.tasks.reprocess_callbacks",
    "payments.tasks.sweep_payouts",
)
SIDE_TASKS = (
    "webhooks.tasks.deliver_webhook",
    "webhooks.tasks.deliver_pending_webhooks",
    "notifications.tasks.deliver_notification",
    "notifications.tasks.deliver_pending",
    "notifications.tasks.deliver_recent",
    "notifications.tasks.send_daily_summary",
    "payments.tasks.run_finance_job",
    "payments.tasks.check_payout_name",
)


def _queue(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def _queues_of(command: str) -> set[str]:
    match = re.search(r"-Q\s+([\w,]+)", command)
    return set(match.group(1).split(",")) if match else {app.conf.task_default_queue}


def _compose_workers() -> dict[str, set[str]]:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return {name: _queues_of(service["command"]) for name, service in services.items()
            if "celery -A mpesa_payouts worker" in str(service.get("command"))}  # fmt: skip


def _make_run_workers() -> dict[str, set[str]]:
    source = (ROOT / "scripts" / "run_local.py").read_text()
    found = {}
    for name, args in re.findall(r'\("(worker[\w-]*)", \[(.*?)\]\)', source, flags=re.S):
        found[name] = _queues_of(" ".join(re.findall(r'"([^"]*)"', args)))
    return found


@pytest.mark.parametrize("workers", [_compose_workers, _make_run_workers], ids=["docker-compose", "make-run"])
def test_every_task_has_a_worker_and_the_payout_worker_takes_only_payout_work(workers):
    app.loader.import_default_modules()
    by_name = workers()
    payout_worker = by_name["worker"]
    assert len(by_name) == 2
    consumed = set().union(*by_name.values())
    tasks = [name for name in app.tasks if not name.startswith("celery.")]
    beat = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
    assert set(beat) <= set(tasks)
    assert {name: _queue(name) for name in tasks if _queue(name) not in consumed} == {}
    assert {name for name in PAYOUT_TASKS if _queue(name) not in payout_worker} == set()
    assert {name for name in SIDE_TASKS if _queue(name) in payout_worker} == set()
