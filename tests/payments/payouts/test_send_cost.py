"""What the send path keeps between sends, and the checks it folds into one statement: credentials saved in the
admin are used by the very next send, the configuration is not rebuilt while nothing changed, a fresh OAuth
token is reused without a cache round trip, and the limits and approvals at claim decide exactly as before."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from cryptography.fernet import Fernet
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from payments import daraja_client as daraja_service
from payments import field_encryption as credentials
from payments.models import DarajaCredentialSet, FloatBalance, PayoutControl, PayoutStatus
from payments.payouts import dispatch
from payments.payouts.limits import send_hold_reason
from tests import fake_daraja
from tests.factories import make_approver, make_payout, make_user
from tests.fake_daraja import B2C, BASE

pytestmark = pytest.mark.django_db

OAUTH = f"{BASE}/oauth/v1/generate"


@pytest.fixture(autouse=True)
def daraja_settings(settings):
    fake_daraja.configure(settings)
    # The environment's B2C app and initiator, told apart from a stored credential set's in the requests.
    settings.MPESA_B2C_CONSUMER_KEY = "env-key"
    settings.MPESA_B2C_CONSUMER_SECRET = "env-secret"
    settings.MPESA_INITIATOR_NAME = "envapi"
    settings.MPESA_SECURITY_CREDENTIAL = "ZW52LWNyZWRlbnRpYWw="
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]


@pytest.fixture
def daraja():
    """Daraja answering every B2C request with an acceptance; one token per consumer key."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:

        def token(request):
            key = request.headers["Authorization"]  # Basic base64(key:secret): one token per app
            return 200, {}, json.dumps({"access_token": f"tok-{abs(hash(key)) % 10**6}", "expires_in": "3599"})

        def accept(request):
            body = json.loads(request.body)
            return 200, {}, json.dumps({
                "ConversationID": f"AG_{body['OriginatorConversationID'][-12:]}",
                "OriginatorConversationID": body["OriginatorConversationID"],
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            })

        mock.add_callback(responses.GET, OAUTH, callback=token)
        mock.add_callback(responses.POST, B2C, callback=accept)
        yield mock


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


def send(mock) -> dict:
    """Send a new approved payout; returns what Daraja received (body and the OAuth app used)."""
    payout = approved_payout()
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "submitted"
    post = [c for c in mock.calls if c.request.url == B2C][-1]
    return {"body": json.loads(post.request.body), "authorization": post.request.headers["Authorization"]}


def oauth_calls(mock) -> list:
    return [c for c in mock.calls if c.request.url.startswith(OAUTH)]


def credential_form(**extra) -> dict:
    data = {
        "name": "Production",
        "active": "on",
        "b2c_shortcode": "600111",
        "initiator_name": "adminapi",
        "b2c_consumer_key": "",
        "b2c_consumer_secret": "",
        "initiator_password": "",
        "security_credential": "",
    }
    data.update(extra)
    return data


# --- Credentials kept in the admin ------------------------------------------------------------------------


def test_credentials_saved_in_the_admin_are_used_by_the_next_send(daraja):
    admin = Client()
    admin.force_login(make_user("root", is_staff=True, is_superuser=True))

    first = send(daraja)
    assert (first["body"]["PartyA"], first["body"]["InitiatorName"]) == ("600992", "envapi")
    assert first["body"]["SecurityCredential"] == "ZW52LWNyZWRlbnRpYWw="

    # An operator stores another shortcode, app and credential: the very next send uses all of them.
    admin.post(
        reverse("admin:payments_darajacredentialset_add"),
        credential_form(b2c_consumer_key="admin-key", b2c_consumer_secret="admin-secret",
                        security_credential="YWRtaW4tY3JlZGVudGlhbA=="),
    )
    stored = DarajaCredentialSet.objects.get()
    second = send(daraja)
    assert (second["body"]["PartyA"], second["body"]["InitiatorName"]) == ("600111", "adminapi")
    assert second["body"]["SecurityCredential"] == "YWRtaW4tY3JlZGVudGlhbA=="
    assert len(oauth_calls(daraja)) == 2  # the admin's app needs its own token
    assert oauth_calls(daraja)[-1].request.headers["Authorization"] != oauth_calls(daraja)[0].request.headers[
        "Authorization"
    ]
    assert second["authorization"] != first["authorization"]

    # Changing one secret of the same set (same row, same name) is picked up too.
    change = reverse("admin:payments_darajacredentialset_change", args=(stored.pk,))
    admin.post(change, credential_form(security_credential="cm90YXRlZA=="))
    assert send(daraja)["body"]["SecurityCredential"] == "cm90YXRlZA=="

    # Switched off: back to the environment's values at once.
    admin.post(change, credential_form(active=""))
    fourth = send(daraja)
    assert (fourth["body"]["PartyA"], fourth["body"]["SecurityCredential"]) == ("600992", "ZW52LWNyZWRlbnRpYWw=")
    assert fourth["authorization"] == first["authorization"]  # the environment app's token, still fresh


def test_a_credential_set_deleted_in_the_admin_is_not_used_by_the_next_send(daraja):
    stored = DarajaCredentialSet.objects.create(
        name="main", active=True, b2c_shortcode="600222",
        security_credential_encrypted=credentials.encrypt_value("c3RvcmVk"),
    )
    assert send(daraja)["body"]["PartyA"] == "600222"
    stored.delete()
    assert send(daraja)["body"]["PartyA"] == "600992"


def test_the_configuration_is_not_rebuilt_while_nothing_changed(daraja, monkeypatch):
    DarajaCredentialSet.objects.create(
        name="main", active=True, b2c_shortcode="600222",
        security_credential_encrypted=credentials.encrypt_value("c3RvcmVk"),
        b2c_consumer_key_encrypted=credentials.encrypt_value("stored-key"),
        b2c_consumer_secret_encrypted=credentials.encrypt_value("stored-secret"),
    )
    decrypted = []
    real_decrypt = credentials.decrypt_value
    monkeypatch.setattr(credentials, "decrypt_value", lambda token: decrypted.append(token) or real_decrypt(token))

    for _ in range(3):
        assert send(daraja)["body"]["SecurityCredential"] == "c3RvcmVk"
    assert len(decrypted) == 4  # the four secret columns, decrypted once for the three sends
    assert len(oauth_calls(daraja)) == 1


def test_a_settings_change_rebuilds_the_configuration(daraja, settings):
    assert send(daraja)["body"]["PartyA"] == "600992"
    settings.MPESA_B2C_SHORTCODE = "600993"
    assert send(daraja)["body"]["PartyA"] == "600993"


# --- The OAuth token between sends --------------------------------------------------------------------------


class CountingCache:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def get(self, key):
        self.calls.append("get")
        return self.inner.get(key)

    def set(self, key, value, timeout):
        self.calls.append("set")
        return self.inner.set(key, value, timeout)

    def delete(self, key):
        self.calls.append("delete")
        return self.inner.delete(key)


def test_a_fresh_token_is_reused_by_later_sends_without_a_cache_round_trip(daraja, monkeypatch):
    shared = CountingCache(daraja_service.cache)
    monkeypatch.setattr(daraja_service, "cache", shared)

    first = send(daraja)
    assert shared.calls == ["get", "set"]  # none shared yet: fetched, then shared with the other workers
    later = [send(daraja) for _ in range(3)]
    assert shared.calls == ["get", "set"]  # held in memory while fresh: no round trip to the cache
    assert {s["authorization"] for s in later} == {first["authorization"]}
    assert len(oauth_calls(daraja)) == 1


def test_a_token_due_for_refresh_is_not_reused_from_memory(daraja, monkeypatch):
    shared = CountingCache(daraja_service.cache)
    monkeypatch.setattr(daraja_service, "cache", shared)
    send(daraja)
    client = daraja_service.daraja_client()
    ((key, (token, refresh_at)),) = client._held.items()
    # Another worker refreshed the token, and ours is now due: the shared cache's is used, none is fetched.
    shared.inner.set(key, {"token": "from-another-worker", "refresh_at": refresh_at + 3000}, 3000)
    client._held[key] = (token, 0.0)  # due
    assert send(daraja)["authorization"] == "Bearer from-another-worker"
    assert shared.calls[-1] == "get"
    assert len(oauth_calls(daraja)) == 1


# --- One statement for the checks at claim ------------------------------------------------------------------


@pytest.mark.postgres  # elsewhere the submitted transition keeps its lock-then-update path: one more
def test_a_send_runs_few_statements(daraja):
    send(daraja)  # the first builds the client and fetches the token
    payout = approved_payout()
    with CaptureQueriesContext(connection) as queries:
        assert dispatch.payout_send(payout_id=payout.pk).outcome == "submitted"
    # Claim: lock, the limits' advisory lock, checks (approvals, limits, float, kill switch, stored
    # credentials), update, event.
    # Submitted: update, event. Transaction control and the notification receivers' savepoints left out.
    # Each status change and its event are two statements (the lifecycle's one door; fusing them measured no
    # gain), plus the webhook's payout.sent (its data, its outbox row) and the ledger's posting of the money
    # leaving the float (one statement: tests/ledger/test_cost.py).
    statements = [
        q["sql"] for q in queries.captured_queries
        if q["sql"].split()[0] not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    ]
    assert len(statements) <= 10, statements


def test_limits_count_sending_payouts_of_any_day_and_others_submitted_today(clock, daraja, settings):
    settings.PAYOUT_DAILY_LIMIT = Decimal("100")
    yesterday = timezone.now() - timedelta(days=1)
    now = timezone.now()
    make_payout(status=PayoutStatus.COMPLETED, transaction_id="Y1", amount=Decimal("90"), submitted_at=yesterday)
    make_payout(status=PayoutStatus.FAILED, amount=Decimal("90"), submitted_at=now)
    make_payout(status=PayoutStatus.REJECTED, amount=Decimal("90"))
    payout = approved_payout(amount=Decimal("30"))
    assert send_hold_reason(payout) == ""  # yesterday's, failed and rejected ones do not count

    make_payout(status=PayoutStatus.SENDING, amount=Decimal("20"), submitted_at=None)
    make_payout(status=PayoutStatus.VERIFYING, amount=Decimal("20"), submitted_at=now)
    make_payout(status=PayoutStatus.NEEDS_REVIEW, amount=Decimal("20"), submitted_at=now)
    assert send_hold_reason(payout) == ""  # 60 + 30 = 90
    make_payout(status=PayoutStatus.SUBMITTED, amount=Decimal("11"), submitted_at=now)
    assert send_hold_reason(payout) == "Daily limit of KES 100.00 reached; waits for tomorrow."  # 71 + 30 > 100
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "held"


def test_recipient_limit_counts_only_that_phone(clock, daraja, settings):
    settings.PAYOUT_RECIPIENT_DAILY_LIMIT = Decimal("50")
    now = timezone.now()
    make_payout(status=PayoutStatus.COMPLETED, transaction_id="O1", amount=Decimal("45"), phone="254700000001",
                submitted_at=now)
    payout = approved_payout(amount=Decimal("10"), phone="254700000002")
    assert send_hold_reason(payout) == ""
    make_payout(status=PayoutStatus.SENDING, amount=Decimal("41"), phone="254700000002",
                submitted_at=now - timedelta(days=3))
    assert send_hold_reason(payout) == "This phone's daily limit of KES 50.00 reached; waits for tomorrow."


def test_hold_reasons_keep_their_order(daraja, settings):
    settings.PAYOUT_DAILY_LIMIT = Decimal("10")
    FloatBalance.objects.create(utility_available=Decimal("5.00"), source="balance_query")
    payout = approved_payout(amount=Decimal("20"))
    PayoutControl.objects.create(paused=True)
    assert send_hold_reason(payout) == "Payouts are paused (kill switch)."
    PayoutControl.objects.update(paused=False)
    assert send_hold_reason(payout).startswith("Daily limit")
    settings.PAYOUT_DAILY_LIMIT = Decimal("1000")
    assert send_hold_reason(payout) == (
        "The B2C float (KES 5.00) is below this payout and its charge (KES 20.00); waits for a top-up."
    )
    FloatBalance.objects.create(utility_available=Decimal("500.00"), source="balance_query")
    assert send_hold_reason(payout) == ""  # the latest reading counts


def test_voided_approvals_are_ignored_and_every_active_one_must_be_bound(daraja):
    payout = approved_payout()
    payout.approvals.create(approver=make_approver(), requested_by=payout.requested_by, amount=Decimal("999"),
                            phone=payout.phone, command_id=payout.command_id, voided_at=timezone.now())
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "submitted"

    other = approved_payout()
    other.approvals.create(approver=make_approver(), requested_by=other.requested_by, amount=other.amount,
                           phone="254700000009", command_id=other.command_id)
    assert dispatch.payout_send(payout_id=other.pk).outcome == "skipped"
    other.refresh_from_db()
    assert other.status == PayoutStatus.PENDING_APPROVAL


def test_a_payout_without_active_approvals_is_not_sent(daraja):
    payout = make_payout(status=PayoutStatus.APPROVED)
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "skipped"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL
    assert [c for c in daraja.calls if c.request.url == B2C] == []


def test_submitted_records_the_event_and_signals_the_current_row(daraja):
    from payments.signals import payout_status_changed

    seen = []

    def receiver(sender, payout, event, old_status, new_status, **kwargs):
        seen.append((old_status, new_status, payout.status, payout.conversation_id, event.action))

    payout_status_changed.connect(receiver, weak=False, dispatch_uid="test-send-cost")
    try:
        sent = send(daraja)
    finally:
        payout_status_changed.disconnect(dispatch_uid="test-send-cost")
    conversation = f"AG_{sent['body']['OriginatorConversationID'][-12:]}"
    assert seen == [
        ("approved", "sending", "sending", "", "sending"),
        ("sending", "submitted", "submitted", conversation, "submitted"),
    ]
