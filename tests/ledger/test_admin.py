"""The finance console: accounts with balances and a statement per account, read-only journal, and top-ups
and opening balances entered by one person and approved by another."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from ledger import accounts
from ledger.models import FundingRequest, FundingStatus, JournalTransaction
from ledger.services.posting import move, transaction_post
from tests.factories import make_approver, make_requester
from tests.ledger.conftest import balances

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_accounts_page_shows_balances_and_links_each_statement():
    transaction_post(source="test", source_id="1", kind="funding", memo="Opening balance July",
                     lines=move(amount=Decimal("1234.50"), debit=accounts.MPESA_UTILITY, credit=accounts.FLOAT_FUNDING))
    client = logged_in(make_approver())
    page = client.get(reverse("admin:ledger_account_changelist"))
    assert page.status_code == 200
    assert "1,234.50" in page.content.decode()
    statement = client.get(reverse("admin:ledger_account_statement", args=["mpesa_utility"]))
    assert statement.status_code == 200
    body = statement.content.decode()
    assert "Opening balance July" in body and "1234.50" in body
    template = Path(__file__).resolve().parents[2] / "templates/admin/ledger/account/statement.html"
    assert "<script" not in template.read_text()  # no inline script (CSP)


def test_journal_entries_are_never_editable_in_the_admin():
    tx = transaction_post(source="test", source_id="1", kind="funding",
                          lines=move(amount=Decimal("10"), debit=accounts.MPESA_UTILITY, credit=accounts.FLOAT_FUNDING))
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

    changelist = reverse("admin:ledger_fundingrequest_changelist")
    action = {"action": "approve", "_selected_action": [request.pk]}
    logged_in(requester).post(changelist, action)  # the requester has no approve action
    request.refresh_from_db()
    assert request.status == FundingStatus.PENDING
    self_approving = make_approver()
    own = FundingRequest.objects.create(kind="top_up", amount=Decimal("5"), note="mine", requested_by=self_approving)
    logged_in(self_approving).post(changelist, {"action": "approve", "_selected_action": [own.pk]})
    own.refresh_from_db()
    assert own.status == FundingStatus.PENDING  # four eyes: never one's own

    logged_in(approver).post(changelist, action)
    request.refresh_from_db()
    assert (request.status, request.decided_by) == (FundingStatus.APPROVED, approver)
    tx = JournalTransaction.objects.get(pk=request.transaction_id)
    assert (tx.source, tx.source_id, tx.kind) == ("mpesa", "TOPUP1", "funding")
    assert balances()[accounts.MPESA_UTILITY] == Decimal("50000.00")
    assert balances()[accounts.FLOAT_FUNDING] == Decimal("50000.00")
