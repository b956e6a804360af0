"""Issue 27 in a real browser (Debian's Chromium, driven by Playwright, headless) on Django's live server, at a
laptop's width (1366 px) and a phone's (390 px): the disbursement form asks for the rail first and shows only
that rail's fields (our own static script), refuses a paybill without its account naming the field, and
requests a paybill and a float top-up; with scripts off every field shows and the server names each one the
rail refuses; a mixed-rail CSV is previewed (who is paid in each rail's words, refused rows with why) and
confirmed. Nothing on these pages is wider than the screen.

No ORM while the browser runs (Playwright's event loop is in this thread): rows are made before, checked after.
Screenshots go to the test's temporary directory; with UPDATE_SCREENSHOTS=1 they are copied to docs/screenshots/.
"""

from __future__ import annotations

from collections import Counter

from payments.models import Payout, PayoutBatch
from tests.e2e.browser import BROWSER_TEST, WIDTHS, fits_the_screen
from tests.factories import make_requester

pytestmark = BROWSER_TEST

MIXED_RAILS = (
    "rail,phone,party_b,account_reference,amount,recipient name,reference,remarks\n"
    "mobile,0712345678,,,1500,Jane Wanjiru,INV-1042,March trainer fee\n"
    "paybill,,888880,INV-2041,12000,Nairobi Water,INV-2041,March water bill\n"
    "till,,5432109,,4500,Duka Supplies,RCPT-88,Office supplies\n"
    "pochi,0744000333,,,800,Mama Mboga,INV-1044,Vegetables\n"
    "paybill,,888880,,3000,Nairobi Water,INV-2042,April water bill\n"
    "till,0733000222,5432109,,900,Duka Supplies,RCPT-89,Office supplies\n"
)
# Shown in docs/admin.md's screenshots.
DOC_SHOTS = ("rails-form-paybill-laptop.png", "rails-form-paybill-phone.png", "rails-bulk-preview-laptop.png")


def visible_fields(page) -> set[str]:
    names = ("phone", "party_b", "account_reference", "command_id", "amount", "remarks")
    return {name for name in names if page.is_visible(f"#id_{name}")}


def test_the_rail_first_form_shows_each_rails_fields_and_requests_it(browse, settings):
    make_requester("rita")
    settings.MPESA_B2C_SHORTCODE = "600999"
    for size, (width, height) in WIDTHS.items():
        with browse("rita", width, height) as page:
            page.goto(f"{page.base}/admin/payments/payout/add/")
            assert visible_fields(page) == {"phone", "command_id", "amount", "remarks"}  # mobile, chosen at first
            page.check("input[name=rail][value=till]")
            assert visible_fields(page) == {"party_b", "account_reference", "amount", "remarks"}
            assert page.inner_text("label[for=id_party_b]") == "Till number:"
            page.check("input[name=rail][value=float_topup]")
            assert visible_fields(page) == {"amount", "remarks"}
            page.check("input[name=rail][value=pochi]")
            assert visible_fields(page) == {"phone", "amount", "remarks"}

            # A paybill without its account: the field is named, nothing is created.
            page.check("input[name=rail][value=paybill]")
            assert page.inner_text("label[for=id_party_b]") == "Paybill number:"
            page.fill("#id_party_b", "888880")
            page.fill("#id_amount", "12000")
            page.fill("#id_remarks", "March water bill")
            page.fill("#id_recipient_name", "Nairobi Water")
            fits_the_screen(page)
            page.screenshot(path=page.shots / f"rails-form-paybill-{size}.png", full_page=True)
            page.click("input[type=submit][value=Continue]")
            page.wait_for_selector(".field-account_reference .errorlist")
            assert "A paybill payout needs an account." in page.inner_text(".field-account_reference .errorlist")
            # The page comes back with the paybill chosen and only its fields.
            assert visible_fields(page) == {"party_b", "account_reference", "amount", "remarks"}
            fits_the_screen(page)
            page.screenshot(path=page.shots / f"rails-form-refused-{size}.png", full_page=True)

            page.fill("#id_account_reference", "INV-2041")
            page.click("input[type=submit][value=Continue]")
            page.wait_for_selector("text=Yes, request this payout")
            assert page.inner_text(".payout-paid-to") == "Paybill 888880, account INV-2041"
            assert "BusinessPayBill" in page.inner_text("#content")
            fits_the_screen(page)
            page.screenshot(path=page.shots / f"rails-confirm-paybill-{size}.png", full_page=True)
            page.click("input[name=confirm]")
            page.wait_for_selector("ul.messagelist li.success")
            assert "Paybill 888880, account INV-2041 requested" in page.inner_text("ul.messagelist")
            assert "Paybill 888880, account INV-2041" in page.inner_text(".payout-summary")

            # A float top-up asks for no payee at all.
            page.goto(f"{page.base}/admin/payments/payout/add/?rail=float_topup")
            assert visible_fields(page) == {"amount", "remarks"}
            page.fill("#id_amount", "400000")
            page.fill("#id_remarks", "Top up for payroll")
            page.click("input[type=submit][value=Continue]")
            page.wait_for_selector("text=Yes, request this payout")
            assert page.inner_text(".payout-paid-to") == "Our B2C float (shortcode 600999)"
            page.click("input[name=confirm]")
            page.wait_for_selector("ul.messagelist li.success")

            page.goto(f"{page.base}/admin/payments/payout/")
            listing = page.inner_text("#result_list")
            assert "Paybill 888880, account INV-2041" in listing and "Our B2C float" in listing
            fits_the_screen(page)
            # The rail's words wrap in their column: the list itself does not scroll sideways either.
            results = "document.querySelector('#changelist .results')"
            assert page.evaluate(f"(r => r.scrollWidth <= r.clientWidth)({results})")
            page.screenshot(path=page.shots / f"rails-list-{size}.png", full_page=True)
            assert page.errors == []

    made = Counter(Payout.objects.values_list("rail", "party_b", "account_reference", "command_id"))
    assert made == {
        ("paybill", "888880", "INV-2041", "BusinessPayBill"): 2,
        ("float_topup", "600999", "", "BusinessPayToBulk"): 2,
    }


def test_without_scripts_every_field_shows_and_the_server_names_each_bad_one(browse):
    make_requester("rita")
    for size, (width, height) in WIDTHS.items():
        with browse("rita", width, height, scripts=False) as page:
            page.goto(f"{page.base}/admin/payments/payout/add/")
            assert visible_fields(page) == {"phone", "party_b", "account_reference", "command_id", "amount", "remarks"}
            page.check("input[name=rail][value=paybill]")
            page.fill("#id_phone", "0712345678")
            page.fill("#id_amount", "1500")
            page.fill("#id_remarks", "March water bill")
            page.click("input[type=submit][value=Continue]")
            page.wait_for_selector(".field-phone .errorlist")
            assert "A paybill payout does not take a phone number." in page.inner_text(".field-phone .errorlist")
            assert "needs a paybill or till number" in page.inner_text(".field-party_b .errorlist")
            assert "needs an account" in page.inner_text(".field-account_reference .errorlist")
            fits_the_screen(page)
            page.screenshot(path=page.shots / f"rails-form-no-script-{size}.png", full_page=True)
    assert not Payout.objects.exists()


def test_a_mixed_rail_csv_is_previewed_in_each_rails_words_and_confirmed(browse):
    make_requester("rita")
    for size, (width, height) in WIDTHS.items():
        with browse("rita", width, height) as page:
            page.goto(f"{page.base}/admin/payments/payout/bulk-upload/")
            page.set_input_files(
                "#id_file", {"name": f"suppliers-{size}.csv", "mimeType": "text/csv", "buffer": MIXED_RAILS.encode()}
            )
            page.click("input[type=submit][value='Check the file']")
            page.wait_for_selector("h2.bulk-valid-summary")
            assert page.inner_text("h2.bulk-valid-summary") == "4 rows will become payouts: KES 18,800.00 in all"
            paid_to = page.locator("table.bulk-valid-rows td.bulk-paid-to").all_inner_texts()
            assert paid_to == ["2547****5678", "Paybill 888880, account INV-2041", "Till 5432109", "Pochi 2547****0333"]
            refused = page.inner_text("table.payout-upload-errors")
            assert "A paybill payout needs an account." in refused and "A till payout does not take a phone" in refused
            assert "0733000222" not in page.content()  # a refused row's phone is masked too
            fits_the_screen(page)
            page.screenshot(path=page.shots / f"rails-bulk-preview-{size}.png", full_page=True)
            page.click("input[name=confirm]")
            page.wait_for_selector("ul.messagelist li.success")
            assert "created with 4 payouts waiting for approval" in page.inner_text("ul.messagelist")
            assert "Till 5432109" in page.content()
            fits_the_screen(page)
            page.screenshot(path=page.shots / f"rails-batch-{size}.png", full_page=True)
            assert page.errors == []

    assert PayoutBatch.objects.count() == 2
    assert Counter(Payout.objects.values_list("rail", flat=True)) == {"mobile": 2, "paybill": 2, "till": 2, "pochi": 2}
