"""Each payout rail posts balanced transactions from the lifecycle's door (issue 27): requested and approved
through the REST API, then moved by `payout_transition()` as the send and its result would move it
(sending -> submitted -> completed, or failed). After every step the trial balance holds and
`payouts_in_flight` holds exactly what is in flight; a paybill or till payout ends in `supplier_payments`
out of the Working account, Pochi as B2C, a float top-up in the Utility account (no expense), and a charge
on the result in `mpesa_charges`."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from ledger import accounts
from ledger.models import Account, AccountType, JournalTransaction
from ledger.services.money import charges_post
from payments.models import AuditAction, EventSource, Payout, PayoutStatus
from payments.payouts.lifecycle import payout_transition
from payments.tasks import send_payout
from tests import fake_daraja
from tests.factories import make_approver, make_payout, make_requester
from tests.ledger.conftest import IN_FLIGHT, api, assert_balanced, balances, postings
from tests.payments.payouts.test_rail_sends import B2B, answer, b2b_result, post_result

pytestmark = pytest.mark.django_db

AMOUNT = Decimal("2500.00")
UTILITY, WORKING, SUPPLIERS = accounts.MPESA_UTILITY, accounts.MPESA_WORKING, accounts.SUPPLIER_PAYMENTS

# rail -> (the request's payee fields, the account it leaves, where the money ends)
RAILS = {
    "mobile": ({"phone": "0712345678"}, UTILITY, accounts.DISBURSEMENTS),
    "pochi": ({"phone": "0712345678"}, UTILITY, accounts.DISBURSEMENTS),
    "paybill": ({"party_b": "888880", "account_reference": "INV-2041"}, WORKING, SUPPLIERS),
    "till": ({"party_b": "5432109"}, WORKING, SUPPLIERS),
    "float_topup": ({}, WORKING, UTILITY),
}


def requested_and_approved(rail: str, amount: Decimal = AMOUNT) -> int:
    payee = RAILS[rail][0]
    created = api(make_requester()).post(
        "/api/payouts/", {"rail": rail, "amount": str(amount), "remarks": "Supplier invoice", **payee}, format="json"
    )
    assert created.status_code == 201, created.content
    payout_id = created.json()["id"]
    approved = api(make_approver()).post(f"/api/payouts/{payout_id}/approve/", {}, format="json")
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved", approved.content
    return payout_id


def step(payout_id: int, to_status: str, **fields):
    action, source = {
        PayoutStatus.SENDING: (AuditAction.SENDING, EventSource.TASK),
        PayoutStatus.SUBMITTED: (AuditAction.SUBMITTED, EventSource.TASK),
        PayoutStatus.COMPLETED: (AuditAction.COMPLETED, EventSource.CALLBACK),
        PayoutStatus.FAILED: (AuditAction.FAILED, EventSource.CALLBACK),
    }[to_status]
    moved = payout_transition(payout_id=payout_id, action=action, to_status=to_status, source=source, fields=fields)
    assert moved is not None and moved.status == to_status
    assert_balanced()
    for tx in JournalTransaction.objects.filter(payout_id=payout_id):
        assert sum(e.debit for e in tx.entries.all()) == sum(e.credit for e in tx.entries.all()), tx
    return moved


def expenses() -> Decimal:
    types = dict(Account.objects.values_list("code", "type"))
    return sum((b for code, b in balances().items() if types[code] == AccountType.EXPENSE), Decimal("0"))


@pytest.mark.parametrize("rail", list(RAILS))
def test_each_rail_moves_its_money_from_its_account_through_flight_to_where_it_went(rail):
    _, source, destination = RAILS[rail]
    payout_id = requested_and_approved(rail)
    assert postings(payout_id) == []  # approved: no money moved yet

    step(payout_id, PayoutStatus.SENDING, send_attempts=1)
    now = balances()
    assert (now[source], now[IN_FLIGHT]) == (-AMOUNT, AMOUNT)
    step(payout_id, PayoutStatus.SUBMITTED, submitted_at=timezone.now())
    assert [tx.kind for tx in postings(payout_id)] == ["sent"]  # submitted moves nothing
    step(payout_id, PayoutStatus.COMPLETED, transaction_id=f"SK{rail[:4].upper()}01", completed_at=timezone.now())

    now = balances()
    assert now[IN_FLIGHT] == 0
    assert now[destination] == AMOUNT - (AMOUNT if destination == source else 0)
    if rail == "float_topup":
        assert (now[WORKING], now[UTILITY]) == (-AMOUNT, AMOUNT)
    else:
        assert now[source] == -AMOUNT
    completed = postings(payout_id, "completed")[0]
    assert {(e.account_id, e.debit, e.credit) for e in completed.entries.all()} == {
        (destination, AMOUNT, Decimal("0")), (IN_FLIGHT, Decimal("0"), AMOUNT)
    }
    assert completed.clears_id == postings(payout_id, "sent")[0].pk


@pytest.mark.parametrize("rail", list(RAILS))
def test_a_failed_payout_returns_its_money_to_the_account_it_left(rail):
    _, source, _ = RAILS[rail]
    payout_id = requested_and_approved(rail)
    step(payout_id, PayoutStatus.SENDING, send_attempts=1)
    step(payout_id, PayoutStatus.SUBMITTED)
    step(payout_id, PayoutStatus.FAILED, result_code="2001")
    now = balances()
    assert (now[source], now[IN_FLIGHT], expenses()) == (0, 0, 0)
    assert [tx.kind for tx in postings(payout_id)] == ["sent", "returned"]


def test_a_float_topup_is_our_money_moved_not_an_expense(settings):
    settings.PAYOUT_DUAL_APPROVAL_THRESHOLD = Decimal("1000000")
    payout_id = requested_and_approved("float_topup", Decimal("200000.00"))
    step(payout_id, PayoutStatus.SENDING, send_attempts=1)
    step(payout_id, PayoutStatus.COMPLETED, transaction_id="SKTOPUP01")
    now = balances()
    assert expenses() == 0
    assert (now[WORKING], now[UTILITY]) == (Decimal("-200000.00"), Decimal("200000.00"))


def test_a_charge_on_the_result_posts_to_charges_out_of_the_account_paid_from_once():
    payout_id = requested_and_approved("paybill")
    step(payout_id, PayoutStatus.SENDING, send_attempts=1)
    step(payout_id, PayoutStatus.SUBMITTED)
    payout = step(payout_id, PayoutStatus.COMPLETED, transaction_id="SKCHG0001", charge=Decimal("33.00"))
    now = balances()
    assert now[accounts.MPESA_CHARGES] == Decimal("33.00")
    assert now[WORKING] == -(AMOUNT + Decimal("33.00"))
    assert now[UTILITY] == 0  # a B2B charge is not taken from the B2C float
    charge = postings(payout_id, "charge")[0]
    assert (charge.source, charge.source_id) == ("mpesa", "SKCHG0001")

    # The same charge reported again for the receipt (a status answer's DebitPartyCharges) posts nothing.
    assert charges_post(receipt="SKCHG0001", amount=Decimal("33.00"), payout=payout) is None
    assert balances()[accounts.MPESA_CHARGES] == Decimal("33.00")
    assert_balanced()


def test_a_completion_without_a_charge_posts_none():
    payout_id = requested_and_approved("till")
    step(payout_id, PayoutStatus.SENDING, send_attempts=1)
    step(payout_id, PayoutStatus.COMPLETED, transaction_id="SKNOCHG01")
    assert postings(payout_id, "charge") == []
    assert balances()[accounts.MPESA_CHARGES] == 0


def test_a_b2c_charge_still_leaves_the_utility_account():
    payout_id = requested_and_approved("pochi")
    step(payout_id, PayoutStatus.SENDING, send_attempts=1)
    step(payout_id, PayoutStatus.COMPLETED, transaction_id="SKPOCHI01", charge=Decimal("11.00"))
    assert balances()[UTILITY] == -(AMOUNT + Decimal("11.00"))


def test_a_commandid_mapping_moves_supplier_payments_but_a_kind_mapping_does_not(settings):
    settings.LEDGER_DISBURSEMENT_ACCOUNTS = {"BusinessPayBill": "rent", "disbursement": "payroll"}
    accounts._ensured.clear()
    paybill, till = requested_and_approved("paybill"), requested_and_approved("till")
    for payout_id, receipt in ((paybill, "SKMAP0001"), (till, "SKMAP0002")):
        step(payout_id, PayoutStatus.SENDING, send_attempts=1)
        step(payout_id, PayoutStatus.COMPLETED, transaction_id=receipt)
    now = balances()
    assert (now["rent"], now[SUPPLIERS], now.get("payroll", Decimal("0"))) == (AMOUNT, AMOUNT, 0)


def test_the_new_accounts_are_listed_and_exported_under_their_external_code(tmp_path):
    Account.objects.filter(code=SUPPLIERS).update(external_code="5150")
    payout_id = requested_and_approved("paybill")
    step(payout_id, PayoutStatus.SENDING, send_attempts=1)
    step(payout_id, PayoutStatus.COMPLETED, transaction_id="SKXERO001")

    listed = api(make_approver()).get("/api/ledger/accounts/")
    assert listed.status_code == 200
    rows = {row["code"]: row for row in listed.json()}
    assert (rows[WORKING]["type"], rows[WORKING]["balance"]) == ("asset", "-2500.00")
    assert (rows[SUPPLIERS]["type"], rows[SUPPLIERS]["external_code"]) == ("expense", "5150")

    today = timezone.localdate().isoformat()
    target = tmp_path / "xero.csv"
    call_command("export_journal", "--start", today, "--end", today, "--format", "xero", "--output", str(target),
                 stdout=StringIO())
    lines = target.read_text(encoding="utf-8-sig").splitlines()
    assert any(",5150," in line and "2500.00" in line for line in lines), lines


def test_backfill_puts_rail_payouts_where_their_status_says(settings):
    long_ago = timezone.now() - timedelta(days=40)
    make_payout(rail="paybill", phone="", party_b="888880", account_reference="INV-1", command_id="BusinessPayBill",
                status=PayoutStatus.COMPLETED, transaction_id="BF1", amount=Decimal("300.00"), completed_at=long_ago)
    make_payout(rail="float_topup", phone="", party_b="600000", command_id="BusinessPayToBulk",
                status=PayoutStatus.COMPLETED, transaction_id="BF2", amount=Decimal("1000.00"), completed_at=long_ago)
    make_payout(rail="till", phone="", party_b="5432109", command_id="BusinessBuyGoods",
                status=PayoutStatus.VERIFYING, amount=Decimal("50.00"))
    call_command("ledger_backfill", stdout=StringIO())
    now = balances()
    assert now[SUPPLIERS] == Decimal("300.00")
    assert now[UTILITY] == Decimal("1000.00")
    assert now[WORKING] == Decimal("-1350.00")
    assert now[IN_FLIGHT] == Decimal("50.00")
    assert expenses() == Decimal("300.00")
    assert_balanced()


@pytest.mark.parametrize("rail", ["paybill", "float_topup"])
def test_a_b2b_result_at_its_callback_url_posts_the_payment_and_its_charge(client, settings, rail):
    """The real send task and the documented B2B result (DebitPartyCharges 23.00) at the payout's own URL."""
    settings.MPESA_B2B_SHORTCODE, settings.MPESA_TOPUP_FROM_SHORTCODE = "600000", "600111"
    payout_id = requested_and_approved(rail)
    with fake_daraja.answering() as daraja:
        daraja.post(B2B, json=answer())
        assert send_payout.apply(args=[payout_id]).get() == "submitted"
    assert (balances()[WORKING], balances()[IN_FLIGHT]) == (-AMOUNT, AMOUNT)
    payout = Payout.objects.get(pk=payout_id)
    assert post_result(client, payout, b2b_result(payout)).status_code == 200

    now = balances()
    charge = Decimal("23.00")
    assert (now[WORKING], now[IN_FLIGHT], now[accounts.MPESA_CHARGES]) == (-(AMOUNT + charge), 0, charge)
    assert now[RAILS[rail][2]] == AMOUNT
    assert expenses() == (charge if rail == "float_topup" else AMOUNT + charge)
    assert [tx.kind for tx in postings(payout_id)] == ["sent", "completed", "charge"]
    assert_balanced()
