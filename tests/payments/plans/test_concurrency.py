"""Two beat processes at once: each occurrence becomes one batch, never two nor half of one. Two threads, each
with its own PostgreSQL connection, run the plans at the same instant; one creates the run and its batch, the
other finds it made (the plan's lock, then the UNIQUE (plan, scheduled_for)) and creates nothing."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from payments.models import Payout, PayoutBatch, PayoutPlanRun
from payments.plans.runs import plan_run_create, plans_run_due
from tests.clock import travel_to
from tests.payments.factories import make_approver, make_requester
from tests.payments.plans.helpers import active_plan, two_recipients

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id: None)


@pytest.fixture
def plan():
    rita, alan = make_requester("rita"), make_approver("alan")
    with travel_to("2026-12-09T12:00:00+03:00", tick=False):
        jane, otieno = two_recipients(rita, alan)
        return active_plan(rita, alan, [{"recipient": jane["id"], "amount": "1500"},
                                        {"recipient": otieno["id"], "amount": "2000"}])


def at_once(work, n: int = 2) -> tuple[list, list]:
    barrier = threading.Barrier(n)
    answers, errors = [], []

    def one() -> None:
        try:
            barrier.wait(timeout=30)
            answers.append(work())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers, errors


def test_two_beats_at_once_make_one_batch_per_occurrence(plan):
    now = datetime.fromisoformat("2026-12-14T09:01:00+03:00")
    answers, errors = at_once(lambda: len(plans_run_due(now=now)))
    assert not errors
    assert sorted(answers) == [0, 1]
    assert PayoutPlanRun.objects.count() == 1
    assert PayoutBatch.objects.count() == 1
    assert Payout.objects.filter(batch=PayoutBatch.objects.get()).count() == 2


def test_a_second_creator_that_passed_the_check_fails_on_the_unique_key_and_writes_nothing(plan):
    # Both asked "is there a run?" before either wrote one: both call the creator. One wins; the other's
    # transaction rolls back whole (no second batch, no stray payout).
    answers, errors = at_once(lambda: plan_run_create(plan_id=plan["id"], scheduled_for=date(2026, 12, 14)))
    assert not errors
    assert sorted(a is None for a in answers) == [False, True]
    assert (PayoutPlanRun.objects.count(), PayoutBatch.objects.count(), Payout.objects.count()) == (1, 1, 2)


def test_the_database_itself_refuses_a_second_run_of_an_occurrence(plan):
    PayoutPlanRun.objects.create(plan_id=plan["id"], scheduled_for=date(2026, 12, 14))
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutPlanRun.objects.create(plan_id=plan["id"], scheduled_for=date(2026, 12, 14))
