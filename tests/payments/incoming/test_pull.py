"""Pull Transactions: no C2B payment goes unrecorded. Through the real command (`pull_transactions`), the beat
task, the C2B confirmation route and the discrepancies API, with Daraja faked by `responses`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from ledger import selectors as ledger
from ledger.models import JournalTransaction
from payments.callbacks.tokens import static_token
from payments.models import AuditAction, CallbackOutcome, DarajaCallback, Payment, PaymentSource, PaymentStatus, PullRun
from payments.tasks import pull_transactions
from tests.clock import travel_to
from tests.factories import make_payment, make_user, sample
from tests.fake_daraja import BASE
from webhooks.models import WebhookEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]

PULL_QUERY = f"{BASE}/pulltransactions/v1/query"
NOW = "2026-12-07T08:30:00+03:00"


def row(receipt: str, amount: str = "233.80", msisdn=254722000000, account: str = "ORDER-1") -> dict:
    return {"transactionId": receipt, "trxDate": "2026-12-07T05:13:00Z", "msisdn": msisdn, "sender": "UNKNOWN",
            "transactiontype": "c2b-pay-bill-debit", "billreference": account, "amount": amount,
            "organizationname": "Daraja Pull API Test"}  # fmt: skip


def answer_pull(mock: responses.RequestsMock, rows: list[dict], *, page_size: int = 1000) -> list[dict]:
    """Daraja's Pull: the rows from OffSetValue, page_size at a time, as a list of lists; none left is 1001
    with "[[]]". Returns the bodies it was asked with."""
    asked: list[dict] = []

    def reply(request):
        body = json.loads(request.body)
        asked.append(body)
        offset = int(body["OffSetValue"])
        page = rows[offset:offset + page_size]
        if not page:
            return 200, {}, json.dumps({"ResponseRefID": "r", "ResponseCode": "1001", "ResponseMessage": "No records",
                                        "Response": "[[]]"})  # fmt: skip
        return 200, {}, json.dumps({"ResponseRefID": "r", "ResponseCode": "1000", "ResponseMessage": "Success",
                                    "Response": [page]})  # fmt: skip

    mock.add_callback(responses.POST, PULL_QUERY, callback=reply)
    return asked


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("pull_transactions", *args, stdout=out)
    return out.getvalue()


def findings() -> list[str]:
    api = APIClient()
    api.force_authenticate(make_user(is_staff=True, is_superuser=True))
    response = api.get("/api/reconciliation/discrepancies/", {"kind": "pull_finding"})
    assert response.status_code == 200, response.content
    return [line["message"] for line in response.json()["results"]]


def confirm(client, body: dict):
    return client.post(reverse("callbacks:c2b-confirmation", kwargs={"token": static_token("c2b")}),
                       data=json.dumps(body), content_type="application/json")  # fmt: skip


def assert_balanced() -> None:
    balance = ledger.trial_balance()
    assert balance.balanced, (balance.debits, balance.credits)


def test_a_missed_confirmation_is_recovered_once_posted_sent_and_listed(daraja, client):
    answer_pull(daraja, [row("LHG31AA5TX")])
    with travel_to(NOW):
        printed = run_command()

    assert "recovered LHG31AA5TX: KES 233.80 from 254722000000, account ORDER-1" in printed
    assert "Recovered 1, matched 0" in printed
    payment = Payment.objects.get(receipt="LHG31AA5TX")
    assert (payment.source, payment.status, payment.amount) == (PaymentSource.PULL, PaymentStatus.COMPLETED,
                                                                Decimal("233.80"))  # fmt: skip
    assert payment.phone == "254722000000"  # in full: a refund by B2C can reach it
    assert [e.action for e in payment.events.all()] == [AuditAction.PAYMENT_RECOVERED]
    assert JournalTransaction.objects.filter(payment_id=payment.pk, kind="received").count() == 1
    assert WebhookEvent.objects.filter(payment=payment, type="payment.received").count() == 1
    assert findings() == ["Payment LHG31AA5TX (KES 233.80 from 254722000000, account ORDER-1) recorded from Pull: "
                          "its confirmation never came."]  # fmt: skip
    assert_balanced()

    # The next run sees it again (the windows overlap): matched, nothing added.
    with travel_to(NOW):
        assert pull_transactions.apply().get()["matched"] == 1
    assert Payment.objects.count() == 1
    assert JournalTransaction.objects.filter(payment_id=payment.pk, kind="received").count() == 1
    assert len(findings()) == 1


def test_a_confirmation_after_the_pull_changes_nothing_and_is_a_duplicate(daraja, client):
    answer_pull(daraja, [row("RKL51ZDR4F", amount="5.00", msisdn=254712345126, account="Sample Transaction")])
    with travel_to(NOW):
        run_command()
    assert confirm(client, sample("c2b_confirmation")).status_code == 200

    payment = Payment.objects.get()
    assert (payment.source, payment.phone) == (PaymentSource.PULL, "254712345126")  # not the masked number
    assert DarajaCallback.objects.get().outcome == CallbackOutcome.DUPLICATE
    assert JournalTransaction.objects.filter(payment_id=payment.pk, kind="received").count() == 1
    assert_balanced()


def test_rows_are_read_page_by_page_until_a_short_page(daraja):
    asked = answer_pull(daraja, [row(f"PAGE{n:06d}", amount=f"{100 + n}.00") for n in range(5)], page_size=2)
    with travel_to(NOW):
        printed = run_command()

    assert [body["OffSetValue"] for body in asked] == ["0", "2", "4"]
    assert "5 rows on 3 pages" in printed
    assert Payment.objects.filter(source=PaymentSource.PULL).count() == 5
    assert PullRun.objects.get().complete
    assert_balanced()


def test_an_empty_window_records_nothing_and_the_next_run_starts_where_it_ended(daraja):
    asked = answer_pull(daraja, [])
    with travel_to(NOW):
        printed = run_command()
    with travel_to(datetime.fromisoformat(NOW) + timedelta(hours=1)):
        pull_transactions.apply().get()

    assert "Recovered 0" in printed
    assert not Payment.objects.exists()
    assert findings() == []
    # The first run asks for the 48 hours the API keeps; the next from the first's end, less 10 minutes.
    assert [(body["StartDate"][:16], body["EndDate"][:16]) for body in asked] == [
        ("2026-12-05 08:30", "2026-12-07 08:30"), ("2026-12-07 08:20", "2026-12-07 09:30")]


def test_a_disagreement_is_listed_never_written_over(daraja):
    ours = make_payment(receipt="LHG31AA5TX", amount=Decimal("200.00"), account_reference="ORDER-7",
                        phone="2547 ***** 000")  # fmt: skip
    answer_pull(daraja, [row("LHG31AA5TX", amount="233.80", account="ORDER-1")])
    with travel_to(NOW):
        printed = run_command()
        run_command()  # seen again by the next run: listed once

    assert "disagreements 1" in printed
    ours.refresh_from_db()
    assert (ours.amount, ours.account_reference) == (Decimal("200.00"), "ORDER-7")
    assert ours.phone == "254722000000"  # a masked number is replaced by the full one for the same receipt
    assert findings() == [
        f'Pull disagrees with payment #{ours.pk} (LHG31AA5TX): amount KES 233.80 at M-Pesa, KES 200.00 here; '
        f'account "ORDER-1" at M-Pesa, "ORDER-7" here. Our record is kept as it is: check the M-Pesa statement.']


def test_a_full_number_is_never_replaced_by_a_masked_one(daraja):
    ours = make_payment(receipt="LHG31AA5TX", amount=Decimal("233.80"), account_reference="ORDER-1",
                        phone="254722000111")  # fmt: skip
    answer_pull(daraja, [row("LHG31AA5TX", msisdn="2547 ***** 000")])
    with travel_to(NOW):
        run_command()
    ours.refresh_from_db()
    assert ours.phone == "254722000111"
    assert findings() == []


@pytest.mark.parametrize("since, why", [
    ("yesterday", "is not a time in the form YYYY-MM-DD HH:MM"),
    ("2026-12-05 08:29", "within the last 48 hours"),
    ("2026-12-07 09:00", "in the future"),
])  # fmt: skip
def test_a_since_the_api_cannot_answer_is_refused_before_asking(daraja, since, why):
    asked = answer_pull(daraja, [row("LHG31AA5TX")])
    with travel_to(NOW), pytest.raises(CommandError, match=why) as refused:
        run_command("--since", since)
    assert refused.value.returncode == 2
    assert asked == [] and not PullRun.objects.exists()


def test_since_asks_from_that_nairobi_time(daraja):
    asked = answer_pull(daraja, [])
    with travel_to(NOW):
        run_command("--since", "2026-12-06 20:15")
    assert asked[0]["StartDate"] == "2026-12-06 20:15:00"


def test_a_daraja_error_leaves_the_run_incomplete_and_the_next_asks_again(daraja):
    daraja.post(PULL_QUERY, status=400, json={"requestId": "x", "errorCode": "400.001",
                                              "errorMessage": "Invalid shortcode"})  # fmt: skip
    with travel_to(NOW), pytest.raises(CommandError, match="did not complete: 400.001"):
        run_command()
    run = PullRun.objects.get()
    assert not run.complete and "400.001" in run.error
    assert not Payment.objects.exists()


def test_the_window_never_reaches_past_48_hours(daraja):
    asked = answer_pull(daraja, [])
    with travel_to(NOW):
        run_command()
    with travel_to(datetime.fromisoformat(NOW) + timedelta(days=5)):
        run_command()
    assert asked[1]["StartDate"][:16] == "2026-12-10 08:30"  # not the first run's end, five days before
