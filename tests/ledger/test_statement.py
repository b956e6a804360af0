"""`reconcile_statement` proposes what only the statement knows (charges, transfers), and says so; each is
posted once, when an approver accepts it in the admin (Ledger > Statement postings)."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from ledger import accounts
from ledger.models import JournalTransaction, StatementProposal
from ledger.services.money import charges_post
from payments.models import PayoutStatus
from tests.factories import advance, make_approver, make_payout
from tests.ledger.conftest import assert_balanced, balances
from tests.payments.admin.conftest import logged_in
from tests.payments.reconciliation.statements import b2c_row, charge_row, transfer_row, write_csv

pytestmark = pytest.mark.django_db


def reconcile(path) -> str:
    out = StringIO()
    try:
        call_command("reconcile_statement", str(path), stdout=out)
    except SystemExit:
        pass  # exit 1: discrepancies (the B2C row is not ours here)
    return out.getvalue()


def accept_all() -> None:
    ids = list(StatementProposal.objects.values_list("pk", flat=True))
    logged_in(make_approver()).post("/admin/ledger/statementproposal/", {"action": "accept", "_selected_action": ids})


def test_charges_and_transfers_are_proposed_then_posted_once_and_reported(tmp_path):
    path = write_csv(tmp_path / "statement.csv", [
        b2c_row("SG1", "05-07-2024 10:00:00", "1,000.00"),
        charge_row("SG1", "05-07-2024 10:00:00", "15.00"),
        charge_row("SG2", "06-07-2024 10:00:00", "22.40"),
        transfer_row("TR1", "07-07-2024 09:00:00", "50,000.00"),
        {**transfer_row("TR2", "08-07-2024 09:00:00", "80,000.00"), "Withdrawn": "", "Paid In": "80,000.00",
         "Details": "Working Account to Utility Account Transfer"},
    ])
    output = reconcile(path)
    assert "Proposed for the ledger: 2 charges (KES 37.40), 2 transfers (in KES 80,000.00, out KES 50,000.00)" in output
    assert "Nothing is posted until an approver accepts them" in output
    assert not JournalTransaction.objects.exists()
    twice = reconcile(path)
    assert "0 charges" in twice and "4 already waiting" in twice  # proposed once
    accept_all()
    now = balances()
    assert now[accounts.MPESA_CHARGES] == Decimal("37.40")
    assert now[accounts.FLOAT_FUNDING] == Decimal("30000.00")
    assert now[accounts.MPESA_UTILITY] == Decimal("29962.60")
    assert_balanced()

    again = reconcile(path)
    assert "Proposed for the ledger: 0 charges (KES 0.00), 0 transfers" in again and "4 already in the ledger" in again
    assert JournalTransaction.objects.count() == 4


def test_a_charge_already_known_from_a_status_result_is_not_posted_again(tmp_path):
    payout = make_payout(status=PayoutStatus.COMPLETED, transaction_id="SG1")
    charges_post(receipt="SG1", amount=Decimal("15.00"), payout=payout)  # from DebitPartyCharges
    path = write_csv(tmp_path / "statement.csv", [charge_row("SG1", "05-07-2024 10:00:00", "15.00")])
    assert "0 charges" in reconcile(path)
    assert balances()[accounts.MPESA_CHARGES] == Decimal("15.00")


def topup_completed(receipt: str, amount: str):
    """A float top-up sent through the API (Working -> Utility), completed through the lifecycle's door."""
    payout = make_payout(rail="float_topup", phone="", party_b="600000", command_id="BusinessPayToBulk",
                         status=PayoutStatus.SUBMITTED, amount=Decimal(amount))
    advance(payout.pk, PayoutStatus.COMPLETED, fields={"transaction_id": receipt})
    return payout


TOPUP_ROW = {**transfer_row("TR2", "08-07-2024 09:00:00", "80,000.00"), "Withdrawn": "", "Paid In": "80,000.00",
             "Details": "Working Account to Utility Account Transfer"}


def test_a_top_up_our_payout_made_is_not_proposed_again(tmp_path):
    topup_completed("TR2", "80000.00")
    before = balances()
    output = reconcile(write_csv(tmp_path / "statement.csv", [TOPUP_ROW]))
    assert "0 transfers" in output and "1 already in the ledger" in output
    assert not StatementProposal.objects.exists()
    assert balances() == before and before[accounts.FLOAT_FUNDING] == 0
    assert_balanced()


def test_a_proposed_transfer_our_top_up_then_made_posts_nothing_when_accepted(tmp_path):
    reconcile(write_csv(tmp_path / "statement.csv", [TOPUP_ROW]))  # the statement came first
    assert StatementProposal.objects.count() == 1
    payout = topup_completed("TR2", "80000.00")
    accept_all()
    proposal = StatementProposal.objects.get()
    assert proposal.status == "accepted"
    assert proposal.transaction.payout_id == payout.pk  # the top-up's own posting
    assert balances()[accounts.FLOAT_FUNDING] == 0
    assert balances()[accounts.MPESA_UTILITY] == Decimal("80000.00")
    assert_balanced()
