"""The console's *Check for missed payments now* (approvers only) queues a Pull run on the worker and answers at
once; the overview says when the last Pull ran and what it recovered. Two presses while a check is queued or
running queue one run."""

from __future__ import annotations

import pytest
from django.urls import reverse

from payments.models import AuditAction, Payment, PullRun, PullTrigger
from tests.clock import travel_to
from tests.factories import make_approver, make_requester
from tests.payments.admin.conftest import logged_in, messages_of
from tests.payments.incoming.test_pull import NOW, answer_pull, row

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]

CHECK = reverse("admin:payments_payment_check_missed")
ANSWER = "Checking for missed payments; the result appears on the overview."


@pytest.fixture
def published(monkeypatch) -> list[tuple]:
    """The tasks the button queues (no broker, no worker)."""
    calls: list[tuple] = []
    monkeypatch.setattr("payments.incoming.pull.publish_now", lambda task, *args: calls.append((task.name, args)))
    return calls


def test_an_approver_checks_for_missed_payments_and_the_overview_shows_what_was_found(
    daraja, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the worker's run happens here, as it would on the worker
    answer_pull(daraja, [row("LHG31AA5TX")])
    approver = make_approver("alan")
    console = logged_in(approver)
    with travel_to(NOW):
        before = console.get("/admin/").content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            pressed = console.post(CHECK)
        overview = console.get(pressed["Location"])

    assert "Pull Transactions has not run yet." in before
    assert "Check for missed payments now" in before
    assert pressed.status_code == 302 and pressed["Location"] == "/admin/#money-in"
    assert messages_of(overview) == [ANSWER]
    assert "Last Pull: 2026-12-07 08:30 (Nairobi), 1 recovered." in overview.content.decode()
    payment = Payment.objects.get(receipt="LHG31AA5TX")
    event = payment.events.get()
    assert (event.action, event.source, event.actor) == (AuditAction.PAYMENT_RECOVERED, "admin", approver)
    assert PullRun.objects.get().trigger == PullTrigger.CONSOLE


def test_the_press_answers_at_once_and_a_second_press_queues_nothing(
    daraja, published, django_capture_on_commit_callbacks
):
    asked = answer_pull(daraja, [row("LHG31AA5TX")])
    approver = make_approver("alan")
    console = logged_in(approver)
    with travel_to(NOW):
        with django_capture_on_commit_callbacks(execute=True):
            first = console.post(CHECK, follow=True)
            second = logged_in(make_approver("nina")).post(CHECK, follow=True)

    assert messages_of(first) == [ANSWER]
    assert messages_of(second) == ["A check for missed payments is already running (asked by alan at 08:30); its "
                                   "result appears on the overview."]  # fmt: skip
    assert published == [("payments.tasks.check_missed_payments", (approver.pk,))]
    assert asked == [] and not PullRun.objects.exists()  # nothing ran in the request
    assert "Checking for missed payments now (asked by alan at 08:30)" in second.content.decode()


def test_once_the_run_ends_the_button_queues_again(daraja, published, django_capture_on_commit_callbacks):
    from payments.tasks import check_missed_payments

    answer_pull(daraja, [row("LHG31AA5TX")])
    approver = make_approver("alan")
    console = logged_in(approver)
    with travel_to(NOW), django_capture_on_commit_callbacks(execute=True):
        console.post(CHECK)
        assert check_missed_payments(approver.pk)["recovered"] == 1  # the worker's run
        overview = console.get("/admin/").content.decode()
        console.post(CHECK)
    assert 'id="pull-checking"' not in overview and "1 recovered" in overview
    assert len(published) == 2


def test_a_requester_neither_sees_the_button_nor_may_press_it(daraja, published):
    asked = answer_pull(daraja, [row("LHG31AA5TX")])
    console = logged_in(make_requester("rita"))
    assert "Check for missed payments now" not in console.get("/admin/").content.decode()
    assert console.post(CHECK).status_code == 403
    assert console.get(CHECK).status_code == 405  # only a POST queues it
    assert published == [] and asked == [] and not Payment.objects.exists()
