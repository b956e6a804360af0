"""Sending approved payouts exactly once and resolving unknown outcomes (Daraja faked with `responses`)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests
import responses
from django.urls import reverse
from django.utils import timezone

from payments.models import FloatBalance, Payout, PayoutControl, PayoutStatus
from payments.payouts import dispatch
from payments.tasks import sweep_payouts
from tests.factories import b2c_result, make_approver, make_payout, make_user
from tests.fake_daraja import B2C, STATUS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]


def approved_payout(**kw):
    kw.setdefault("status", PayoutStatus.APPROVED)
    payout = make_payout(**kw)
    payout.approvals.create(
        approver=make_approver(),
        requested_by=payout.requested_by,
        amount=payout.amount,
        phone=payout.phone,
        command_id=payout.command_id,
    )
    return payout


def accepted(payout):
    return {
        "ConversationID": "AG_20240706_20106e9209f64bebd05b",
        "OriginatorConversationID": payout.originator_conversation_id,
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    }


def b2c_calls(mock):
    return [c for c in mock.calls if c.request.url == B2C]


def test_accepted_request_is_submitted_with_conversation_id_and_bound_urls(daraja):
    payout = approved_payout()
    daraja.post(B2C, json=accepted(payout))

    assert dispatch.payout_send(payout_id=payout.pk).outcome == "submitted"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED
    assert payout.conversation_id == "AG_20240706_20106e9209f64bebd05b"
    body = json.loads(b2c_calls(daraja)[0].request.body)
    assert body["OriginatorConversationID"] == payout.originator_conversation_id
    assert body["PartyB"] == payout.phone
    assert body["ResultURL"].endswith(f"/callbacks/b2c/result/{payout.callback_token}/")
    assert body["QueueTimeOutURL"].endswith(f"/callbacks/b2c/timeout/{payout.callback_token}/")
    assert [e.action for e in payout.events.order_by("id")] == ["sending", "submitted"]


def test_second_delivery_of_the_send_task_sends_nothing(daraja):
    payout = approved_payout()
    daraja.post(B2C, json=accepted(payout))
    dispatch.payout_send(payout_id=payout.pk)
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "skipped"
    assert len(b2c_calls(daraja)) == 1


def test_redelivery_after_crash_mid_send_never_resends(daraja):
    """A worker died after claiming (the payout is `sending`): the redelivered task must not send."""
    payout = approved_payout(status=PayoutStatus.SENDING)
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "skipped"
    assert b2c_calls(daraja) == []


def test_result_callback_before_synchronous_answer_is_kept(daraja, client):
    payout = approved_payout()

    def answer_after_callback(request):
        client.post(
            reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token}),
            data=json.dumps(b2c_result(payout)),
            content_type="application/json",
        )
        return 200, {}, json.dumps(accepted(payout))

    daraja.add_callback(responses.POST, B2C, callback=answer_after_callback)
    dispatch.payout_send(payout_id=payout.pk)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert payout.conversation_id
    assert payout.submitted_at is not None


def test_spike_arrest_returns_payout_to_approved_for_a_retry_then_fails(daraja):
    payout = approved_payout()
    daraja.post(B2C, status=429, json={"requestId": "r", "errorCode": "500.003.02", "errorMessage": "Spike arrest"})
    results = [dispatch.payout_send(payout_id=payout.pk) for _ in range(dispatch.MAX_SEND_ATTEMPTS)]
    assert [r.outcome for r in results] == ["retry"] * (dispatch.MAX_SEND_ATTEMPTS - 1) + ["failed"]
    assert results[0].retry_in == 10 and results[1].retry_in == 20
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert payout.result_code == "500.003.02"


def test_validation_error_fails_with_the_reason(daraja):
    payout = approved_payout()
    daraja.post(
        B2C,
        status=400,
        json={"requestId": "r", "errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid PartyB"},
    )
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "failed"
    payout.refresh_from_db()
    assert (payout.status, payout.result_code) == (PayoutStatus.FAILED, "400.002.02")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"body": requests.exceptions.ReadTimeout("read timed out")},
        {"status": 500, "json": {"requestId": "r", "errorCode": "500.003.1001", "errorMessage": "Internal error"}},
        {
            "status": 500,
            "json": {
                "requestId": "r",
                "errorCode": "500.002.1001",
                "errorMessage": "Duplicate OriginatorConversationID.",
            },
        },
    ],
    ids=["read-timeout", "internal-error", "duplicate"],
)
def test_might_have_been_sent_goes_to_verifying_never_failed(daraja, kwargs):
    payout = approved_payout()
    daraja.post(B2C, **kwargs)
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "verifying"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    # ...and nothing sends it again: a second task run, or the sweep, only queries its status.
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "skipped"
    assert len(b2c_calls(daraja)) == 1


def test_kill_switch_holds_the_send(daraja, settings):
    payout = approved_payout()
    PayoutControl.objects.create(paused=True)
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "held"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED
    assert "paused" in payout.hold_reason
    assert b2c_calls(daraja) == []
    PayoutControl.objects.update(paused=False)
    settings.PAYOUTS_PAUSED = True
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "held"


def test_payout_above_known_float_waits(daraja):
    FloatBalance.objects.create(utility_available=Decimal("5"), source="balance_query")
    payout = approved_payout()
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "held"
    assert "float" in payout.__class__.objects.get(pk=payout.pk).hold_reason
    # The hold is recorded once, not at every sweep.
    dispatch.payout_send(payout_id=payout.pk)
    assert payout.events.filter(action="held").count() == 1


def test_daily_limit_is_checked_again_at_send(clock, daraja, settings):
    settings.PAYOUT_DAILY_LIMIT = Decimal("15")
    make_payout(status=PayoutStatus.COMPLETED, transaction_id="SGX1", amount=Decimal("10"), submitted_at=timezone.now())
    payout = approved_payout()
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "held"
    assert "Daily limit" in payout.__class__.objects.get(pk=payout.pk).hold_reason


def test_edited_payout_with_stale_approval_is_not_sent(daraja):
    payout = approved_payout()
    payout.__class__.objects.filter(pk=payout.pk).update(amount=Decimal("99"))
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "skipped"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL
    assert b2c_calls(daraja) == []


# --- Status queries ----------------------------------------------------------------------------------


def test_status_query_names_the_payouts_status_urls(daraja):
    payout = make_payout(status=PayoutStatus.VERIFYING)
    daraja.post(
        STATUS,
        json={
            "ConversationID": "AG_q",
            "OriginatorConversationID": "q",
            "ResponseCode": "0",
            "ResponseDescription": "Accept the service request successfully.",
        },
    )
    assert dispatch.payout_query_status(payout_id=payout.pk) == "queried"
    body = json.loads([c for c in daraja.calls if c.request.url == STATUS][0].request.body)
    assert body["OriginalConversationID"] == payout.originator_conversation_id
    assert body["ResultURL"].endswith(f"/callbacks/status/result/{payout.callback_token}/")
    payout.refresh_from_db()
    assert payout.status_queries_sent == 1


def test_an_operator_query_needs_permission_and_names_who_asked(daraja):
    from django.core.exceptions import PermissionDenied

    from payments.models import AuditEvent

    payout = make_payout(status=PayoutStatus.NEEDS_REVIEW)
    with pytest.raises(PermissionDenied):
        dispatch.payout_query_status(payout_id=payout.pk, force=True, actor=make_user("visitor"))
    payout.refresh_from_db()
    assert payout.status_queries_sent == 0 and not daraja.calls  # refused: nothing asked, nothing counted
    daraja.post(STATUS, json={"ConversationID": "AG_q", "OriginatorConversationID": "q", "ResponseCode": "0",
                              "ResponseDescription": "Accept the service request successfully."})
    approver = make_approver("asker")
    assert dispatch.payout_query_status(payout_id=payout.pk, force=True, actor=approver) == "queried"
    assert AuditEvent.objects.get(payout=payout, action="status_query").actor == approver


def test_unanswered_status_queries_hand_the_payout_to_a_person(daraja, settings):
    settings.PAYOUT_MAX_STATUS_QUERIES = 2
    payout = make_payout(status=PayoutStatus.VERIFYING)
    daraja.post(
        STATUS,
        json={"ConversationID": "c", "OriginatorConversationID": "q", "ResponseCode": "0", "ResponseDescription": "ok"},
    )
    outcomes = [dispatch.payout_query_status(payout_id=payout.pk) for _ in range(3)]
    assert outcomes == ["queried", "queried", "needs_review"]
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert "No answer to 2" in payout.review_reason
    assert b2c_calls(daraja) == []


def test_hand_over_says_when_mpesa_answered_but_found_nothing(daraja, settings, client):
    # "Not found" twice is a different story for the operator than silence: say which it was.
    settings.PAYOUT_MAX_STATUS_QUERIES = 2
    payout = make_payout(status=PayoutStatus.VERIFYING)
    daraja.post(
        STATUS,
        json={"ConversationID": "c", "OriginatorConversationID": "q", "ResponseCode": "0", "ResponseDescription": "ok"},
    )
    not_found = {"Result": {"ResultType": 0, "ResultCode": 2032, "ResultDesc": "Transaction not found",
                            "OriginatorConversationID": "q", "ConversationID": "c"}}
    url = reverse("callbacks:status-result", args=[payout.callback_token])
    for _ in range(2):
        assert dispatch.payout_query_status(payout_id=payout.pk) == "queried"
        client.post(url, json.dumps(not_found), content_type="application/json", REMOTE_ADDR="127.0.0.1")
    assert dispatch.payout_query_status(payout_id=payout.pk) == "needs_review"
    payout.refresh_from_db()
    assert payout.review_reason.startswith("2 Transaction Status queries, 2 answered without a final outcome")
    assert "2032: Transaction not found" in payout.review_reason
    assert "No answer" not in payout.review_reason


def test_sweep_queues_lost_sends_and_overdue_queries(settings, monkeypatch):
    from django.utils import timezone

    old = timezone.now() - timezone.timedelta(hours=1)
    lost = approved_payout(status_changed_at=old)
    stuck = make_payout(status=PayoutStatus.SUBMITTED, status_changed_at=old)
    fresh = make_payout(status=PayoutStatus.SUBMITTED)
    unknown = make_payout(status=PayoutStatus.VERIFYING)
    sent, queried = [], []
    monkeypatch.setattr("payments.payouts.services.queue_sends", sent.extend)
    monkeypatch.setattr("payments.tasks.query_payout_status.delay", queried.append)
    assert sweep_payouts() == {"sends": 1, "status_queries": 2, "expired": 0}
    assert sent == [lost.pk]
    assert sorted(queried) == sorted([stuck.pk, unknown.pk])
    assert fresh.pk not in queried


def test_a_group_of_sends_claims_each_payout_on_its_own(daraja, monkeypatch):
    """send_payouts (an approval of many in one message): each payout sent once, one that must wait goes back
    to the queue alone, a redelivered message sends nothing again, and one payout's crash stops no other."""
    from payments import tasks

    sent, throttled, already, broken = (approved_payout(phone=f"25470000000{n}") for n in range(4))
    already.status = PayoutStatus.SENDING
    already.save(update_fields=["status"])

    def answer(request):
        ocid = json.loads(request.body)["OriginatorConversationID"]
        if ocid == throttled.originator_conversation_id:
            return 429, {}, json.dumps({"requestId": "r", "errorCode": "500.003.02", "errorMessage": "Spike arrest"})
        return 200, {}, json.dumps(accepted(sent))

    daraja.add_callback(responses.POST, B2C, callback=answer)
    real_send = dispatch.payout_send

    def send(*, payout_id):
        if payout_id == broken.pk:
            raise RuntimeError("database went away")
        return real_send(payout_id=payout_id)

    monkeypatch.setattr(dispatch, "payout_send", send)
    again: list = []
    monkeypatch.setattr(
        "payments.payouts.services.publish_now", lambda task, *args, countdown: again.append((args, countdown))
    )
    group = [broken.pk, sent.pk, throttled.pk, already.pk]

    assert tasks.send_payouts(group) == {"error": 1, "submitted": 1, "retry": 1, "skipped": 1}
    assert tasks.send_payouts(group) == {"error": 1, "skipped": 2, "retry": 1}  # redelivered

    ocids = [json.loads(c.request.body)["OriginatorConversationID"] for c in b2c_calls(daraja)]
    assert ocids.count(sent.originator_conversation_id) == 1
    assert already.originator_conversation_id not in ocids and broken.originator_conversation_id not in ocids
    assert again == [((throttled.pk,), 10), ((throttled.pk,), 20)]
    statuses = {p.pk: p.status for p in Payout.objects.filter(pk__in=group)}
    assert statuses == {
        sent.pk: PayoutStatus.SUBMITTED,
        throttled.pk: PayoutStatus.APPROVED,
        already.pk: PayoutStatus.SENDING,
        broken.pk: PayoutStatus.APPROVED,
    }
