"""A batch's "Send after" (the CSV upload form's, Nairobi time): every row without its own send_after cell carries
it; the preview, the batch page and the approval page say "Scheduled for ..."; approved, its payouts wait in
approved with that reason and the sweep sends them only once the time has come. A row's own cell wins; a time
gone is the form's error and creates nothing."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.nairobi_time import NAIROBI
from payments.models import Payout, PayoutBatch, PayoutStatus
from payments.payouts import dispatch
from payments.tasks import sweep_payouts
from tests.clock import travel_to
from tests.payments.admin.conftest import messages_of

pytestmark = pytest.mark.django_db

UPLOAD = reverse("admin:payments_payout_bulk_upload")
CONFIRM = reverse("admin:payments_payout_bulk_confirm")
APPROVE = reverse("admin:payments_payout_approve")
NOW = "2026-12-20T10:00:00+03:00"
CHRISTMAS_EVE = datetime(2026, 12, 24, 9, 0, tzinfo=NAIROBI)
SCHEDULED = "Scheduled for 2026-12-24 09:00 Nairobi time."

FILE = (
    "phone,amount,recipient name,reference,remarks\n"
    "0712345678,1500,Jane Wanjiru,INV-1,December trainer fee\n"
    "0722000111,2300,Otieno Juma,INV-2,December trainer fee\n"
)


def csv_file(text: str = FILE) -> SimpleUploadedFile:
    return SimpleUploadedFile("december.csv", text.encode(), content_type="text/csv")


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """What the sweep queues to send (no broker in these tests)."""
    sent: list[int] = []
    monkeypatch.setattr("payments.payouts.services.queue_sends", lambda ids: sent.extend(ids))
    return sent


def upload_and_create(console, text: str = FILE, send_after: str = "2026-12-24 09:00") -> PayoutBatch:
    preview = console.post(UPLOAD, {"file": csv_file(text), "command_id": "BusinessPayment",
                                    "send_after": send_after})  # fmt: skip
    assert preview.status_code == 200 and "token" in preview.context, preview.content.decode()[:2000]
    done = console.post(CONFIRM, {"token": preview.context["token"]})
    assert done.status_code == 302
    return PayoutBatch.objects.get()


def test_the_batch_send_after_is_carried_shown_and_kept_until_its_time(requester_client, approver_client, queued):
    with travel_to(NOW, tick=False):
        preview = requester_client.post(UPLOAD, {"file": csv_file(), "command_id": "BusinessPayment",
                                                 "send_after": "2026-12-24 09:00"})  # fmt: skip
        page = preview.content.decode()
        assert "Scheduled for 2026-12-24 09:00 Nairobi time</strong>: 2 rows without their own send_after" in page
        requester_client.post(CONFIRM, {"token": preview.context["token"]})
        batch = PayoutBatch.objects.get()
        payouts = list(batch.payouts.order_by("pk"))
        assert [p.send_after for p in payouts] == [CHRISTMAS_EVE, CHRISTMAS_EVE]

        batch_page = approver_client.get(reverse("admin:payments_payoutbatch_change", args=(batch.pk,)))
        assert SCHEDULED in batch_page.content.decode()
        approval_page = approver_client.get(APPROVE, {"batch": batch.pk}).content.decode()
        assert 'id="payout-schedule"' in approval_page and SCHEDULED in approval_page
        approver_client.post(APPROVE, {"ids": ",".join(str(p.pk) for p in payouts), "confirm": "1"})

        # The worker, given the approval's send: each waits in approved, and says why.
        for payout in payouts:
            assert dispatch.payout_send(payout_id=payout.pk).outcome == "held"
            payout.refresh_from_db()
            assert (payout.status, payout.hold_reason) == (PayoutStatus.APPROVED, SCHEDULED)
        batch_page = approver_client.get(reverse("admin:payments_payoutbatch_change", args=(batch.pk,)))
        assert f"Held: {SCHEDULED}" in batch_page.content.decode()

    with travel_to("2026-12-24T08:59:00+03:00", tick=False):
        sweep_payouts()
    assert queued == []
    with travel_to("2026-12-24T09:01:00+03:00", tick=False):
        sweep_payouts()
    assert sorted(queued) == sorted(p.pk for p in payouts)


def test_a_rows_own_send_after_wins_over_the_batchs(requester_client, approver_client):
    text = (
        "phone,amount,recipient name,reference,remarks,send after\n"
        "0712345678,1500,Jane Wanjiru,INV-1,December trainer fee,2026-12-27 08:30\n"
        "0722000111,2300,Otieno Juma,INV-2,December trainer fee,\n"
    )
    with travel_to(NOW, tick=False):
        batch = upload_and_create(requester_client, text)
        own, batch_value = batch.payouts.order_by("pk")
        assert own.send_after == datetime(2026, 12, 27, 8, 30, tzinfo=NAIROBI)
        assert batch_value.send_after == CHRISTMAS_EVE
        page = approver_client.get(reverse("admin:payments_payoutbatch_change", args=(batch.pk,))).content.decode()
        assert "Scheduled (Nairobi time): 1 for 2026-12-24 09:00, 1 for 2026-12-27 08:30." in page


def test_a_send_after_gone_is_the_forms_error_and_nothing_is_created(requester_client):
    with travel_to(NOW, tick=False):
        response = requester_client.post(UPLOAD, {"file": csv_file(), "command_id": "BusinessPayment",
                                                  "send_after": "2026-12-20 09:59"})  # fmt: skip
        assert response.status_code == 200 and "token" not in response.context
        assert response.context["form"].errors["send_after"] == ["Send after must be in the future."]
    assert not PayoutBatch.objects.exists() and not Payout.objects.exists()


def test_a_batch_time_that_passes_before_the_confirm_creates_nothing(requester_client):
    with travel_to(NOW, tick=False):
        preview = requester_client.post(UPLOAD, {"file": csv_file(), "command_id": "BusinessPayment",
                                                 "send_after": "2026-12-20 10:30"})  # fmt: skip
    with travel_to("2026-12-20T10:31:00+03:00", tick=False):
        done = requester_client.post(CONFIRM, {"token": preview.context["token"]}, follow=True)
    assert "Send after must be in the future." in messages_of(done)
    assert not PayoutBatch.objects.exists() and not Payout.objects.exists()


def test_without_a_batch_send_after_nothing_is_scheduled(requester_client, approver_client):
    with travel_to(NOW, tick=False):
        batch = upload_and_create(requester_client, send_after="")
    assert set(batch.payouts.values_list("send_after", flat=True)) == {None}
    page = approver_client.get(reverse("admin:payments_payoutbatch_change", args=(batch.pk,))).content.decode()
    assert "Not scheduled: each is sent once approved." in page
