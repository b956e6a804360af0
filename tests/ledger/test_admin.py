"""The finance console: accounts with balances and a statement per account, read-only journal, and top-ups
and opening balances entered by one person and approved by another."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from ledger import accounts
from ledger.export import NAIROBI
from ledger.models import FundingRequest, FundingStatus, JournalTransaction
from ledger.services.posting import move, transaction_post
from payments.payouts import services as payout_services
from tests.factories import make_approver, make_requester
from tests.ledger.conftest import balances
from tests.ledger.factories import make_posting

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_accounts_page_shows_balances_and_links_each_statement():
    transaction_post(
        source="test",
        source_id="1",
        kind="funding",
        memo="Opening balance July",
        lines=move(amount=Decimal("1234.50"), debit=accounts.MPESA_UTILITY, credit=accounts.FLOAT_FUNDING),
    )
    client = logged_in(make_approver())
    page = client.get(reverse("admin:ledger_account_changelist"))
    assert page.status_code == 200
    assert "KES 1,234.50" in page.content.decode()
    assert reverse("admin:ledger_account_trial_balance") in page.content.decode()
    statement = client.get(reverse("admin:ledger_account_statement", args=["mpesa_utility"]))
    assert statement.status_code == 200
    body = statement.content.decode()
    assert "Opening balance July" in body and "KES 1,234.50" in body
    template = Path(__file__).resolve().parents[2] / "templates/admin/ledger/account/statement.html"
    assert "<script" not in template.read_text()  # no inline script (CSP)


def test_journal_entries_are_never_editable_in_the_admin():
    tx = transaction_post(
        source="test",
        source_id="1",
        kind="funding",
        lines=move(amount=Decimal("10"), debit=accounts.MPESA_UTILITY, credit=accounts.FLOAT_FUNDING),
    )
    client = logged_in(make_approver())
    change = client.get(reverse("admin:ledger_journaltransaction_change", args=[tx]))
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()
    assert client.post(reverse("admin:ledger_journaltransaction_delete", args=[tx]), {"post": "yes"}).status_code == 403
    assert JournalTransaction.objects.filter(pk=tx).exists()


def test_a_top_up_is_posted_only_when_another_person_approves_it():
    requester, approver = make_requester(), make_approver()
    added = logged_in(requester).post(reverse("admin:ledger_fundingrequest_add"), {
        "kind": "top_up", "amount": "50000.00", "receipt": "TOPUP1", "effective_at_0": "2024-07-01",
        "effective_at_1": "09:00:00", "note": "Bank transfer to the utility account", "form_nonce": "render-1",
    })
    assert added.status_code == 302, added.content.decode()[:2000]
    request = FundingRequest.objects.get()
    assert request.requested_by == requester and request.status == FundingStatus.PENDING
    assert balances()[accounts.MPESA_UTILITY] == 0

    decide = reverse("admin:ledger_fundingrequest_decide", args=(request.pk,))
    assert logged_in(requester).post(decide, {"decision": "approve"}).status_code == 403  # requesters never decide
    request.refresh_from_db()
    assert request.status == FundingStatus.PENDING
    self_approving = make_approver()
    own = FundingRequest.objects.create(kind="top_up", amount=Decimal("5"), note="mine", requested_by=self_approving)
    own_page = reverse("admin:ledger_fundingrequest_decide", args=(own.pk,))
    assert "another person must approve" in logged_in(self_approving).get(own_page).content.decode()
    logged_in(self_approving).post(own_page, {"decision": "approve"})
    own.refresh_from_db()
    assert own.status == FundingStatus.PENDING  # four eyes: never one's own

    logged_in(approver).post(decide, {"decision": "approve"})
    request.refresh_from_db()
    assert (request.status, request.decided_by) == (FundingStatus.APPROVED, approver)
    tx = JournalTransaction.objects.get(pk=request.transaction_id)
    assert (tx.source, tx.source_id, tx.kind) == ("mpesa", "TOPUP1", "funding")
    assert balances()[accounts.MPESA_UTILITY] == Decimal("50000.00")
    assert balances()[accounts.FLOAT_FUNDING] == Decimal("50000.00")



def test_a_top_up_of_the_working_account_is_entered_in_the_admin():
    requester, approver = make_requester(), make_approver()
    page = logged_in(requester).get(reverse("admin:ledger_fundingrequest_add")).content.decode()
    assert "The Working account (MMF)" in page and "Suppl" not in page  # only our M-Pesa accounts are offered
    added = logged_in(requester).post(reverse("admin:ledger_fundingrequest_add"), {
        "kind": "top_up", "account": accounts.MPESA_WORKING, "amount": "300000.00", "receipt": "WORK1",
        "effective_at_0": "2024-07-01", "effective_at_1": "09:00:00", "note": "Bank to Working", "form_nonce": "w-1",
    })
    assert added.status_code == 302, added.content.decode()[:2000]
    request = FundingRequest.objects.get()
    assert request.account_id == accounts.MPESA_WORKING
    logged_in(approver).post(reverse("admin:ledger_fundingrequest_decide", args=(request.pk,)), {"decision": "approve"})
    assert (balances()[accounts.MPESA_WORKING], balances()[accounts.MPESA_UTILITY]) == (Decimal("300000.00"), 0)

def post(source_id: str, amount: str, debit: str, credit: str, at: str) -> None:
    make_posting(amount, source_id=source_id, memo=f"Posting {source_id}", debit=debit, credit=credit,
                 when=datetime.fromisoformat(at).replace(tzinfo=NAIROBI))


def test_the_trial_balance_page_shows_the_books_as_of_a_day_in_kes():
    post("open", "1000000.00", accounts.MPESA_UTILITY, accounts.FLOAT_FUNDING, "2026-11-01 08:00:00")
    post("charge", "15.00", accounts.MPESA_CHARGES, accounts.MPESA_UTILITY, "2026-11-05 09:00:00")
    post("later", "50000.00", accounts.MPESA_UTILITY, accounts.FLOAT_FUNDING, "2026-11-10 09:00:00")
    client = logged_in(make_approver())
    page = client.get(reverse("admin:ledger_account_trial_balance"), {"at": "2026-11-06"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "As of the end of 6 Nov 2026" in body and "Balanced" in body
    assert "KES 999,985.00" in body  # the float after the charge, before the later top-up
    assert "KES 1,000,015.00" in body and "KES 1,050,000.00" not in body  # total debits that day
    now = client.get(reverse("admin:ledger_account_trial_balance")).content.decode()
    assert "As of now" in now and "KES 1,049,985.00" in now
    wrong = client.get(reverse("admin:ledger_account_trial_balance"), {"at": "2026-02-30"})
    assert wrong.status_code == 200 and "not a date" in wrong.content.decode()
    assert logged_in(make_requester("nobody-else")).get(reverse("admin:ledger_account_trial_balance")).status_code in (
        200, 403)  # fmt: skip


def test_an_account_statement_shows_the_running_balance_on_every_page():
    start = datetime(2026, 11, 1, 8, 0)
    for n in range(101):  # one more than a page
        at = (start + timedelta(minutes=n)).isoformat(sep=" ")
        post(f"top-{n}", "10.00", accounts.MPESA_UTILITY, accounts.FLOAT_FUNDING, at)
    post("charge", "2.50", accounts.MPESA_CHARGES, accounts.MPESA_UTILITY, "2026-11-02 08:00:00")
    client = logged_in(make_approver())
    url = reverse("admin:ledger_account_statement", args=[accounts.MPESA_UTILITY])
    first = client.get(url).context["rows"]
    assert [(entry.credit, balance) for entry, balance in first[:2]] == [
        (Decimal("2.50"), Decimal("1007.50")), (Decimal("0"), Decimal("1010.00"))]  # fmt: skip
    assert len(first) == 100 and first[-1][1] == Decimal("30.00")  # the charge and 99 top-ups: three older
    second = client.get(url, {"p": 2})
    assert [balance for _, balance in second.context["rows"]] == [Decimal("20.00"), Decimal("10.00")]
    assert "KES 10.00" in second.content.decode()
    # Up to the end of the first day, the newest row is the balance at that day's end.
    ended = client.get(url, {"end": "2026-11-01"}).context["rows"]
    assert ended[0][1] == Decimal("1010.00")


def test_funding_is_guided_and_approved_from_a_confirmation_page_with_float_advice():
    """The add page explains each field and what the next payouts need; the list offers no bare approve action;
    the approver decides on a page naming the request in KES, and only its confirmed POST posts it."""
    from tests.factories import make_float_reading
    from tests.payments.admin.conftest import request_payout

    requester, approver = make_requester(), make_approver()
    make_float_reading(utility_available=Decimal("3000.00"))
    waiting = request_payout(requester, amount="2500")
    request_payout(requester, amount="1500")
    payout_services.payout_approve(payout_id=waiting.pk, approved_by=approver, source="admin", queue=False)

    add_page = logged_in(requester).get(reverse("admin:ledger_fundingrequest_add")).content.decode()
    assert "The M-Pesa receipt of the transfer" in add_page and "Nothing is posted now" in add_page
    assert "Approved payouts (sent as soon as a worker takes them): <strong>KES 2,500.00" in add_page
    assert "Waiting for approval (sent the moment they are approved): <strong>KES 1,500.00" in add_page
    assert "Top up at least KES 1,000.00" in add_page

    funding = FundingRequest.objects.create(kind="top_up", amount=Decimal("1000000"), note="Bank transfer",
                                            requested_by=requester)  # fmt: skip
    changelist = logged_in(approver).get(reverse("admin:ledger_fundingrequest_changelist")).content.decode()
    assert 'name="action"' not in changelist and "Approve or reject…" in changelist
    assert str(funding) == "Top-up of the B2C float KES 1,000,000.00 (pending)"

    decide = reverse("admin:ledger_fundingrequest_decide", args=(funding.pk,))
    page = logged_in(approver).get(decide).content.decode()
    assert "Approve KES 1,000,000.00: Top-up of the B2C float?" in page
    assert "Yes, approve and post KES 1,000,000.00" in page
    assert "Top up at least KES 1,000.00" in page
    funding.refresh_from_db()
    assert funding.status == FundingStatus.PENDING and balances()[accounts.MPESA_UTILITY] == 0

    done = logged_in(approver).post(decide, {"decision": "approve"}, follow=True)
    assert "Top-up of the B2C float, KES 1,000,000.00: approved and posted to the ledger." in done.content.decode()
    funding.refresh_from_db()
    assert (funding.status, funding.decided_by) == (FundingStatus.APPROVED, approver)
    assert balances()[accounts.MPESA_UTILITY] == Decimal("1000000.00")
    again = logged_in(approver).post(decide, {"decision": "approve"}, follow=True).content.decode()
    assert "already approved" in again and balances()[accounts.MPESA_UTILITY] == Decimal("1000000.00")
