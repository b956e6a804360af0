"""Issue 30 in the console: a credential set whose operator M-Pesa refused is reinstated and its refused payouts
requested again from the overview's banner, by a superuser whose session passed the second factor; the pages
are the admin's, the services operator_health's (as the API's). Daraja is faked with `responses`."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from payments.field_encryption import encrypt_value
from payments.models import AuditAction, AuditEvent, DarajaCredentialSet, Payout, PayoutStatus
from tests.factories import make_approver, make_user
from tests.fake_daraja import BASE
from tests.payments.admin.conftest import messages_of
from tests.payments.payouts.test_operator_health import no_broker, put_down, state  # noqa: F401 - autouse fixture
from tests.security.test_second_factor import PASSWORD, code_for, enrolled

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]

BALANCE = f"{BASE}/mpesa/accountbalance/v1/query"
SECRET = "c2VjcmV0"  # the set's SecurityCredential (test_operator_health's fixture)


@pytest.fixture(autouse=True)
def second_factor_on(settings):
    settings.ADMIN_REQUIRE_2FA = True
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def verified(user) -> Client:
    """A session that passed the second factor, as the two-step login leaves it."""
    device = enrolled(user)
    console = Client()
    console.force_login(user)
    session = console.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return console


@pytest.fixture
def main_set(settings):
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    return DarajaCredentialSet.objects.create(
        name="main", active=True, b2c_shortcode="600992", initiator_name="apiop",
        security_credential_encrypted=encrypt_value(SECRET),
    )  # fmt: skip


@pytest.fixture
def boss():
    return make_user("boss", is_staff=True, is_superuser=True)


def urls(main_set) -> dict[str, str]:
    base = f"/admin/payments/darajacredentialset/{main_set.pk}/operator/"
    return {"page": base, "reinstate": f"{base}reinstate/", "again": f"{base}request-again/"}


def probe_calls(daraja) -> int:
    return len([call for call in daraja.calls if call.request.url == BALANCE])


def accept_probe(daraja):
    daraja.post(
        BALANCE,
        json={
            "ConversationID": "AG_1",
            "OriginatorConversationID": "b-1",
            "ResponseCode": "0",
            "ResponseDescription": "Accept the service request successfully.",
        },
    )


def test_the_banner_leads_a_superuser_to_reinstate_and_an_accepted_probe_lifts_it(daraja, client, main_set, boss):
    put_down(daraja, client)
    console = verified(boss)
    home = console.get("/admin/").content.decode()
    assert 'id="operator-down"' in home
    assert urls(main_set)["reinstate"] in home and urls(main_set)["page"] in home

    confirm = console.get(urls(main_set)["reinstate"]).content.decode()
    assert "sends one balance query to M-Pesa with this set&#x27;s credentials, as a probe" in confirm
    assert "Only if M-Pesa accepts it is the set up again and sending resumes" in confirm
    assert probe_calls(daraja) == 0  # the confirmation page sends nothing

    accept_probe(daraja)
    done = console.post(urls(main_set)["reinstate"], {"confirm": "1"}, follow=True)
    assert "M-Pesa accepted the probe: credential set main is up again." in messages_of(done)[0]
    assert probe_calls(daraja) == 1 and state(main_set) == "up"
    event = AuditEvent.objects.get(action=AuditAction.OPERATOR_REINSTATED)
    assert (event.actor, event.source) == (boss, "admin")
    assert 'id="operator-down"' not in console.get("/admin/").content.decode()


def test_a_refused_probe_leaves_the_set_down_and_says_why_without_a_secret(daraja, client, main_set, boss):
    put_down(daraja, client)
    daraja.post(
        BALANCE,
        status=500,
        json={"requestId": "r", "errorCode": "500.001.1001", "errorMessage": "Initiator authentication error"},
    )
    console = verified(boss)
    done = console.post(urls(main_set)["reinstate"], {"confirm": "1"}, follow=True)
    said = messages_of(done)[0]
    assert said.startswith("M-Pesa refused the probe (500.001.1001: Initiator authentication error)")
    assert "stays down and nothing is sent" in said
    page = done.content.decode()
    assert SECRET not in page and 'id="operator-state"' in page and "<strong>Down</strong>" in page
    assert state(main_set) == "down"
    assert AuditEvent.objects.filter(action=AuditAction.OPERATOR_PROBE_REFUSED, actor=boss).exists()
    assert 'id="operator-down"' in console.get("/admin/").content.decode()


def test_a_non_superuser_sees_no_buttons_and_is_refused(daraja, client, main_set):
    put_down(daraja, client)
    approver = make_approver("alan")
    console = verified(approver)
    home = console.get("/admin/").content.decode()
    assert 'id="operator-down"' in home and urls(main_set)["reinstate"] not in home
    for url in urls(main_set).values():
        assert console.get(url).status_code == 403
        assert console.post(url, {"confirm": "1"}).status_code == 403
    assert probe_calls(daraja) == 0 and state(main_set) == "down"
    assert not Payout.objects.filter(retry_of__isnull=False).exists()


def test_without_the_second_factor_or_with_a_wrong_code_nothing_is_probed(daraja, client, main_set, boss):
    put_down(daraja, client)
    device = enrolled(boss)
    accept_probe(daraja)

    password_only = Client()
    password_only.force_login(boss)  # signed in without the second factor
    missing = password_only.post(urls(main_set)["reinstate"], {"confirm": "1"})
    assert missing.status_code == 302 and missing["Location"].startswith("/account/login/")

    wrong = Client()
    wrong.post(
        "/account/login/?next=/admin/",
        {"login_view-current_step": "auth", "auth-username": "boss", "auth-password": PASSWORD},
    )
    bad_code = "123456" if code_for(device) != "123456" else "654321"
    wrong.post("/account/login/?next=/admin/", {"login_view-current_step": "token", "token-otp_token": bad_code})
    for url in (urls(main_set)["reinstate"], urls(main_set)["again"]):
        refused = wrong.post(url, {"confirm": "1"})  # not signed in: the admin's login, then the two-step one
        assert refused.status_code == 302 and "/login/" in refused["Location"]

    assert probe_calls(daraja) == 0 and state(main_set) == "down"
    assert not Payout.objects.filter(retry_of__isnull=False).exists()


def test_request_all_again_creates_each_new_pending_payout_once(daraja, client, main_set, boss):
    failed = put_down(daraja, client)
    console = verified(boss)
    page = console.get(urls(main_set)["page"]).content.decode()
    assert all(f">#{payout.pk}</a>" in page for payout in failed)
    assert "2001: " in page and urls(main_set)["again"] in page
    confirm = console.get(urls(main_set)["again"]).content.decode()
    assert "2 payouts of credential set main failed because M-Pesa refused its operator" in confirm
    assert not Payout.objects.filter(retry_of__isnull=False).exists()

    done = console.post(urls(main_set)["again"], {"confirm": "1"}, follow=True)
    again = Payout.objects.filter(retry_of__isnull=False)
    assert sorted(again.values_list("retry_of_id", flat=True)) == sorted(p.pk for p in failed)
    assert set(again.values_list("status", flat=True)) == {PayoutStatus.PENDING_APPROVAL}
    assert messages_of(done)[0].startswith("2 payouts requested again (#")
    assert 'id="operator-refused-none"' in done.content.decode()

    second = console.post(urls(main_set)["again"], {"confirm": "1"}, follow=True)
    assert Payout.objects.filter(retry_of__isnull=False).count() == 2
    assert "No payout to request again" in messages_of(second)[0]


def test_the_main_sets_page_links_to_its_operator_health(daraja, client, main_set, boss):
    put_down(daraja, client)
    page = verified(boss).get(f"/admin/payments/darajacredentialset/{main_set.pk}/change/").content.decode()
    assert 'id="operator-page"' in page and urls(main_set)["page"] in page
    assert "Refused payouts and Reinstate" in page
