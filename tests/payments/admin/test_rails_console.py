"""Issue 27 in the console: a disbursement form that asks for the rail first and checks each field by that
rail's rules, a bulk CSV with a rail column, and who is paid written in the rail's words on the lists and the
payout page. Everything goes through the admin's own routes, as a logged-in operator."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from payments.models import Payout, PayoutBatch, PayoutRail
from tests.factories import make_payment
from tests.payments.admin.conftest import messages_of, request_payout

pytestmark = pytest.mark.django_db

ADD = reverse("admin:payments_payout_add")
CHANGELIST = reverse("admin:payments_payout_changelist")
UPLOAD = reverse("admin:payments_payout_bulk_upload")
CONFIRM = reverse("admin:payments_payout_bulk_confirm")
BLANK = {"phone": "", "party_b": "", "account_reference": "", "command_id": "BusinessPayment"}


def change_url(payout) -> str:
    return reverse("admin:payments_payout_change", args=(payout.pk,))


def request_through_the_form(client, **fields) -> tuple:
    """Continue, then "Yes, request this payout": the confirmation page and the answer to the confirm."""
    data = {**BLANK, "amount": "1500", "remarks": "March invoice", **fields}
    confirmation = client.post(ADD, data)
    assert confirmation.status_code == 200
    assert "Yes, request this payout" in confirmation.content.decode(), confirmation.context["form"].errors
    done = client.post(ADD, {**data, "confirm": "1", "form_nonce": confirmation.context["form_nonce"]})
    return confirmation, done


# --- the rail-first form ---------------------------------------------------------------------------------


def test_the_form_offers_the_rails_first_and_names_the_rails_of_each_payee_field(requester_client):
    page = requester_client.get(ADD).content.decode()
    rails = page.index('name="rail"')
    assert rails < page.index('name="phone"') < page.index('name="party_b"')
    for value in ("mobile", "paybill", "till", "pochi", "float_topup"):
        assert f'value="{value}"' in page
    assert 'value="reversal"' not in page  # a reversal is requested from the payment it gives back
    assert 'data-rails="mobile pochi"' in page  # the phone
    assert 'data-rails="paybill till"' in page  # the business number and the account
    assert 'data-rails="mobile"' in page  # the payment type
    # The script that hides the other fields is ours, served with the console's static files: no CDN.
    assert "/static/payments/rail-form.js" in page and "https://" not in page.split("<body", 1)[0]


def test_a_link_may_open_the_form_with_a_rail_chosen(requester_client):
    form = requester_client.get(ADD + "?rail=paybill").context["form"]
    assert form["rail"].value() == "paybill"
    assert requester_client.get(ADD + "?rail=reversal").context["form"]["rail"].value() == "mobile"


def test_a_paybill_with_its_account_becomes_a_pending_paybill_payout(requester_client):
    confirmation, done = request_through_the_form(
        requester_client, rail="paybill", party_b="888880", account_reference="INV-2041", amount="12000"
    )
    assert "Paybill 888880, account INV-2041" in confirmation.content.decode()
    assert "BusinessPayBill" in confirmation.content.decode()
    payout = Payout.objects.get()
    assert (payout.rail, payout.party_b, payout.account_reference, payout.phone, payout.command_id) == (
        "paybill", "888880", "INV-2041", "", "BusinessPayBill",
    )  # fmt: skip
    assert payout.amount == Decimal("12000.00") and payout.status == "pending_approval"
    assert done.url == change_url(payout)


def test_the_approver_sees_the_paybill_and_account_they_approve(requester_client, approver_client):
    request_through_the_form(
        requester_client, rail="paybill", party_b="888880", account_reference="INV-2041", amount="2000"
    )
    payout = Payout.objects.get()
    page = approver_client.get(reverse("admin:payments_payout_approve"), {"ids": payout.pk}).content.decode()
    assert "Paybill 888880, account INV-2041" in page
    assert "bound to the amount, who is paid and the payment type" in page


def test_a_till_needs_no_account(requester_client):
    confirmation, _ = request_through_the_form(requester_client, rail="till", party_b="5432109")
    assert "Till 5432109" in confirmation.content.decode()
    payout = Payout.objects.get()
    assert (payout.rail, payout.party_b, payout.account_reference, payout.command_id) == (
        "till", "5432109", "", "BusinessBuyGoods",
    )  # fmt: skip


def test_a_pochi_payout_pays_a_phone_with_its_own_command_id(requester_client):
    # The payment type box (hidden by the script) still sends its value without it: the rail's own wins.
    request_through_the_form(requester_client, rail="pochi", phone="0712345678", command_id="SalaryPayment")
    payout = Payout.objects.get()
    assert (payout.rail, payout.phone, payout.command_id) == ("pochi", "254712345678", "BusinessPayToPochi")


def test_a_float_topup_names_our_own_shortcode_and_takes_the_working_accounts_limits(requester_client, settings):
    settings.MPESA_B2C_SHORTCODE = "600999"
    # More than one B2C payout may be (250,000), within what a top-up may move.
    confirmation, _ = request_through_the_form(requester_client, rail="float_topup", amount="400000")
    assert "Our B2C float (shortcode 600999)" in confirmation.content.decode()
    payout = Payout.objects.get()
    assert (payout.rail, payout.party_b, payout.phone, payout.command_id) == (
        "float_topup", "600999", "", "BusinessPayToBulk",
    )  # fmt: skip
    assert payout.amount == Decimal("400000.00")


def test_a_mobile_payout_keeps_its_chosen_payment_type_and_a_form_without_a_rail_is_mobile(requester_client):
    request_through_the_form(requester_client, rail="mobile", phone="0712345678", command_id="SalaryPayment")
    data = {key: value for key, value in BLANK.items() if key not in ("party_b", "account_reference")}
    request_through_the_form(requester_client, **{**data, "phone": "0722000111"})
    first, second = Payout.objects.order_by("pk")
    assert (first.rail, first.phone, first.command_id) == ("mobile", "254712345678", "SalaryPayment")
    assert (second.rail, second.phone, second.command_id) == ("mobile", "254722000111", "BusinessPayment")


@pytest.mark.parametrize(
    "fields,bad",
    [
        # Every field the rail refuses or misses is named at once, with the fields' own errors.
        ({"rail": "paybill", "phone": "0712345678", "amount": "100.50", "remarks": "x"},
         {"phone": "does not take a phone number", "party_b": "needs a paybill or till number",
          "account_reference": "needs an account", "amount": "whole shillings", "remarks": "at least 2"}),
        ({"rail": "paybill", "party_b": "12", "account_reference": "INVOICE-2041-MARCH"},
         {"party_b": "5 to 7 digits", "account_reference": "at most 13 characters"}),
        ({"rail": "till", "phone": "0712345678"}, {"phone": "does not take", "party_b": "needs a paybill or till"}),
        ({"rail": "pochi", "party_b": "888880"}, {"phone": "needs a phone number", "party_b": "does not take"}),
        ({"rail": "mobile", "phone": "12345"}, {"phone": "Kenyan mobile number"}),
        ({"rail": "float_topup", "phone": "0712345678", "account_reference": "X"},
         {"phone": "does not take", "account_reference": "does not take an account"}),
        ({"rail": "bank", "phone": "0712345678"}, {"rail": "Select a valid choice"}),
        ({"rail": "reversal"}, {"rail": "Select a valid choice"}),
        ({"rail": "mobile", "phone": "0712345678", "amount": "300000"}, {"amount": "largest single payout"}),
        ({"rail": "paybill", "party_b": "888880", "account_reference": "A", "amount": "2000000"},
         {"amount": "largest single paybill payout"}),
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_each_field_and_nothing_is_stored(requester_client, fields, bad):
    response = requester_client.post(ADD, {**BLANK, "amount": "1500", "remarks": "March invoice", **fields})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Yes, request this payout" not in page  # still the form, not the confirmation
    errors = response.context["form"].errors
    assert set(errors) == set(bad), errors
    for field, words in bad.items():
        assert words in str(errors[field]), (field, errors[field])
        assert words in page  # shown to the operator, beside its field
    assert not Payout.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"rail": "paybill", "party_b": "888880", "account_reference": "INV-1"},
        {"rail": "float_topup"},
    ],
)
def test_a_confirmation_changed_to_bad_input_creates_nothing(requester_client, fields, settings):
    settings.MPESA_B2C_SHORTCODE = "600999"
    data = {**BLANK, "amount": "1500", "remarks": "March invoice", **fields}
    confirmation = requester_client.post(ADD, data)
    tampered = {**data, "phone": "0712345678", "confirm": "1", "form_nonce": confirmation.context["form_nonce"]}
    response = requester_client.post(ADD, tampered)
    assert response.status_code == 200 and "does not take a phone number" in str(response.context["form"].errors)
    assert not Payout.objects.exists()


def test_a_refund_of_a_payment_stays_mobile(requester_client):
    payment = make_payment(amount=Decimal("1000.00"))
    url = reverse("admin:payments_payment_refund", args=(payment.pk,))
    confirmation = requester_client.post(url, {"amount": "400", "reason": "Order cancelled", "phone": ""})
    requester_client.post(
        url,
        {"amount": "400", "reason": "Order cancelled", "phone": "", "confirm": "1",
         "form_nonce": confirmation.context["form_nonce"]},
    )  # fmt: skip
    refund = Payout.objects.get()
    assert (refund.kind, refund.rail, refund.party_b) == ("refund", PayoutRail.MOBILE, "")


# --- a mixed-rail CSV ------------------------------------------------------------------------------------

MIXED_RAILS = (
    "rail,phone,party_b,account_reference,amount,recipient name,reference,remarks\n"  # line 1
    "mobile,0712345678,,,1500,Jane Wanjiru,INV-1,March trainer fee\n"  # 2 valid
    "paybill,,888880,INV-2041,12000,Nairobi Water,INV-2041,March water bill\n"  # 3 valid
    "till,,5432109,,4500,Duka Supplies,RCPT-88,Office supplies\n"  # 4 valid
    ",0722000111,,,2000,Otieno Juma,INV-5,March trainer fee\n"  # 5 valid: a blank rail is mobile
    "paybill,,888880,,3000,Nairobi Water,INV-6,April water bill\n"  # 6 no account
    "till,0733000222,12,,3000,Shop,INV-7,Supplies\n"  # 7 phone refused, till number too short
    "pochi,,,,800,Mama Mboga,INV-8,Vegetables\n"  # 8 no phone
    "bank,0712345678,,,800,Bank,INV-9,Transfer\n"  # 9 no such rail
    "pochi,0744000333,,,800,Mama Mboga,INV-10,Vegetables\n"  # 10 valid
)


def upload(content: str, name: str = "suppliers.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


def test_a_mixed_rail_csv_is_previewed_row_by_row_by_its_rail_and_confirmed(requester_client, approver_client):
    preview = requester_client.post(UPLOAD, {"file": upload(MIXED_RAILS), "command_id": "BusinessPayment"})
    page = preview.content.decode()
    assert preview.status_code == 200 and not Payout.objects.exists()  # nothing created by the preview
    rows = {row["line"]: row for row in preview.context["rows"]}
    assert sorted(rows) == [2, 3, 4, 5, 10]
    assert rows[2]["paid_to"] == "2547****5678" and rows[5]["rail"] == "mobile"
    assert rows[3]["paid_to"] == "Paybill 888880, account INV-2041"
    assert rows[4]["paid_to"] == "Till 5432109"
    assert rows[10]["paid_to"] == "Pochi 2547****0333"
    for words in ("Paybill 888880, account INV-2041", "Till 5432109", "Pochi 2547****0333"):
        assert words in page
    refused = {row["line"]: row for row in preview.context["refused_rows"]}
    assert sorted(refused) == [6, 7, 8, 9]
    assert "A paybill payout needs an account." in refused[6]["reason"]
    assert "does not take a phone number" in refused[7]["reason"] and "5 to 7 digits" in refused[7]["reason"]
    assert "A pochi payout needs a phone number, and no saved recipient has the reference 'INV-8'." in (
        refused[8]["reason"]
    )
    assert "rail must be one of" in refused[9]["reason"] and "'bank'" in refused[9]["reason"]
    assert refused[6]["paid_to"] == "Paybill 888880" and "0733000222" not in page
    # The B2C float pays the mobile and Pochi rows only; the others leave the Working account.
    assert "2 rows (paybill, till or float top-up) leave the Working account; the rest, KES 4,300.00" in page

    done = requester_client.post(CONFIRM, {"token": preview.context["token"]}, follow=True)
    assert any("created with 5 payouts" in message for message in messages_of(done))
    batch = PayoutBatch.objects.get()
    created = {(p.rail, p.phone, p.party_b, p.account_reference, p.command_id) for p in batch.payouts.all()}
    assert created == {
        ("mobile", "254712345678", "", "", "BusinessPayment"),
        ("paybill", "", "888880", "INV-2041", "BusinessPayBill"),
        ("till", "", "5432109", "", "BusinessBuyGoods"),
        ("mobile", "254722000111", "", "", "BusinessPayment"),
        ("pochi", "254744000333", "", "", "BusinessPayToPochi"),
    }
    # The batch page lists its payouts and its refused rows in the rails' words.
    batch_page = approver_client.get(reverse("admin:payments_payoutbatch_change", args=(batch.pk,))).content.decode()
    assert "Paybill 888880, account INV-2041" in batch_page and "Till 5432109" in batch_page
    assert "A paybill payout needs an account." in batch_page


def test_a_mixed_rail_file_refused_rows_come_back_with_their_rail_columns(requester_client):
    preview = requester_client.post(UPLOAD, {"file": upload(MIXED_RAILS), "command_id": "BusinessPayment"})
    errors = requester_client.get(preview.context["errors_url"]).content.decode()
    fixed = errors.replace(",paybill,888880,,", ",paybill,888880,INV-6,")
    again = requester_client.post(UPLOAD, {"file": upload(fixed), "command_id": "BusinessPayment"})
    paid_to = [row["paid_to"] for row in again.context["rows"]]
    assert paid_to == ["Paybill 888880, account INV-6"]  # line 6, fixed; the others are still refused
    assert [row["line"] for row in again.context["refused_rows"]] == [3, 4, 5]


# --- lists and the payout page say who is paid in the rail's words -------------------------------------------


def test_lists_and_the_payout_page_show_who_is_paid_in_the_rails_words(requester, approver_client):
    paybill = request_payout(requester, phone="", rail="paybill", party_b="888880", account_reference="INV-2041")
    till = request_payout(requester, phone="", rail="till", party_b="5432109")
    mobile = request_payout(requester, phone="0712345678")
    listing = approver_client.get(CHANGELIST).content.decode()
    assert "Paybill 888880, account INV-2041" in listing and "Till 5432109" in listing
    assert "2547****5678" in listing and "254712345678" not in listing
    only_tills = approver_client.get(CHANGELIST + "?rail__exact=till")
    assert [p.pk for p in only_tills.context["cl"].result_list] == [till.pk]

    page = approver_client.get(change_url(paybill)).content.decode()
    assert "Paybill 888880, account INV-2041" in page and "BusinessPayBill" in page
    assert "254712345678" in approver_client.get(change_url(mobile)).content.decode()


def test_a_paybill_payout_is_edited_with_its_own_fields_and_a_bad_one_is_named(requester, requester_client):
    payout = request_payout(requester, phone="", rail="paybill", party_b="888880", account_reference="INV-2041")
    edit = reverse("admin:payments_payout_edit", args=(payout.pk,))
    form = requester_client.get(edit).context["form"]
    assert {"party_b", "account_reference"} <= set(form.fields)
    assert "phone" not in form.fields and "command_id" not in form.fields

    fields = {"party_b": "888880", "amount": "1500", "remarks": "Trainer fee", "recipient_name": "Jane Trainer"}
    refused = requester_client.post(edit, {**fields, "account_reference": "", "party_b": "12"})
    errors = refused.context["form"].errors
    assert "This field is required" in str(errors["account_reference"]) and "5 to 7 digits" in str(errors["party_b"])
    payout.refresh_from_db()
    assert payout.account_reference == "INV-2041"

    requester_client.post(edit, {**fields, "account_reference": "INV-2042", "amount": "600000"})
    payout.refresh_from_db()
    # A paybill may be larger than a B2C payout: the Working account's limits apply.
    assert (payout.account_reference, payout.amount) == ("INV-2042", Decimal("600000.00"))


def test_a_failed_paybill_is_requested_again_as_a_paybill(requester, requester_client):
    failed = request_payout(requester, phone="", rail="paybill", party_b="888880", account_reference="INV-2041")
    Payout.objects.filter(pk=failed.pk).update(status="failed", result_code="1")
    url = reverse("admin:payments_payout_request_again", args=(failed.pk,))
    page = requester_client.get(url).content.decode()
    assert "to Paybill 888880, account INV-2041) failed" in page and 'name="phone"' not in page
    done = requester_client.post(url, follow=True)
    retry = failed.retries.get()
    assert (retry.rail, retry.party_b, retry.account_reference, retry.phone, retry.command_id) == (
        "paybill", "888880", "INV-2041", "", "BusinessPayBill",
    )  # fmt: skip
    assert any("to Paybill 888880, account INV-2041, again after" in m for m in messages_of(done))


def test_a_mixed_rail_file_may_name_a_saved_supplier_by_reference_but_not_pay_it_elsewhere(
    requester, approver, requester_client
):
    from tests.payments.recipients.helpers import active_recipient

    active_recipient(requester, approver, name="Acme Supplies", rail="paybill", phone="", party_b="888880",
                     account_reference="ACC-7", external_reference="SUP-2")  # fmt: skip
    file = (
        "rail,phone,party_b,account_reference,amount,reference,remarks\n"
        ",,,,40000,SUP-2,March invoice\n"  # 2: the saved paybill, as saved
        "paybill,,888880,ACC-7,1000,SUP-2,April invoice\n"  # 3: the same payee written out: still the recipient
        "till,,5432109,,1000,SUP-2,Other invoice\n"  # 4: another payee under its reference: refused
    )
    preview = requester_client.post(UPLOAD, {"file": upload(file), "command_id": "BusinessPayment"})
    refused = {row["line"]: row["reason"] for row in preview.context["refused_rows"]}
    assert list(refused) == [4] and "names the saved recipient Acme Supplies, paid as Paybill 888880" in refused[4]
    assert [row["paid_to"] for row in preview.context["rows"]] == ["Paybill 888880, account ACC-7"] * 2
    requester_client.post(CONFIRM, {"token": preview.context["token"]})
    payouts = PayoutBatch.objects.get().payouts.order_by("pk")
    assert [(p.rail, p.party_b, p.account_reference, p.recipient_name) for p in payouts] == [
        ("paybill", "888880", "ACC-7", "Acme Supplies"),
    ] * 2
