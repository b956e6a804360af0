"""The console's *Check for missed payments now* (approvers only) runs the Pull at once and shows what it
found; the overview says when the last Pull ran and what it recovered."""

from __future__ import annotations

import pytest
from django.urls import reverse

from payments.models import AuditAction, Payment, PullRun, PullTrigger
from tests.clock import travel_to
from tests.factories import make_approver, make_requester
from tests.payments.admin.conftest import logged_in
from tests.payments.incoming.test_pull import NOW, answer_pull, row

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]

CHECK = reverse("admin:payments_payment_check_missed")


def test_an_approver_checks_for_missed_payments_and_sees_what_was_found(daraja):
    answer_pull(daraja, [row("LHG31AA5TX")])
    approver = make_approver("alan")
    console = logged_in(approver)
    with travel_to(NOW):
        before = console.get("/admin/").content.decode()
        response = console.post(CHECK, follow=True)

    assert "Pull Transactions has not run yet." in before
    assert "Check for missed payments now" in before
    page = response.content.decode()
    assert "Recovered LHG31AA5TX: KES 233.80, account ORDER-1 (its confirmation never came)." in page
    assert "1 payments listed, 1 recovered, 0 disagreeing with our record." in page
    assert "Last Pull: 2026-12-07 08:30 (Nairobi), 1 recovered." in page
    payment = Payment.objects.get(receipt="LHG31AA5TX")
    event = payment.events.get()
    assert (event.action, event.source, event.actor) == (AuditAction.PAYMENT_RECOVERED, "admin", approver)
    assert PullRun.objects.get().trigger == PullTrigger.CONSOLE


def test_a_requester_neither_sees_the_button_nor_may_press_it(daraja):
    asked = answer_pull(daraja, [row("LHG31AA5TX")])
    console = logged_in(make_requester("rita"))
    assert "Check for missed payments now" not in console.get("/admin/").content.decode()
    assert console.post(CHECK).status_code == 403
    assert console.get(CHECK).status_code == 405  # only a POST runs it
    assert asked == [] and not Payment.objects.exists()
