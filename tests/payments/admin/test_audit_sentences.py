"""Every audit action reads as a sentence on the payout page, never as its bare code."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from payments.audit_sentences import SENTENCES
from payments.models import AuditAction, PayoutStatus
from tests.factories import b2c_result, make_payout

pytestmark = pytest.mark.django_db


def post_result(client, payout, body):
    url = reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token})
    return client.post(url, data=json.dumps(body), content_type="application/json")


def case_file(client, payout) -> str:
    page = client.get(reverse("admin:payments_payout_change", args=(payout.pk,))).content.decode()
    return page[page.index("Case file: events and notes") :]


def test_every_audit_action_has_a_sentence():
    missing = [action.value for action in AuditAction if action not in SENTENCES]
    assert missing == [], f"give these actions a sentence in payments/audit_sentences.py: {missing}"


def test_a_result_that_proves_nothing_reads_as_a_sentence_on_the_payout_page(client, approver_client):
    payout = make_payout(status=PayoutStatus.SUBMITTED)
    assert post_result(client, payout, b2c_result(payout, "b2c_result_failure", ResultCode=17)).status_code == 200

    history = case_file(approver_client, payout)
    assert "M-Pesa&#x27;s result does not prove whether money moved; a status query will settle it" in history
    assert "Result unknown" not in history


def test_a_success_after_a_recorded_failure_reads_as_a_sentence_on_the_payout_page(client, approver_client):
    payout = make_payout(status=PayoutStatus.FAILED)
    assert post_result(client, payout, b2c_result(payout)).status_code == 200

    history = case_file(approver_client, payout)
    assert "M-Pesa reports it paid after it was recorded failed: it needs review" in history
    assert "Success after failure" not in history
