"""Approvers and superusers use a second factor (issue 16): a stolen password is not enough.

Replays: signing into the admin with an approver's password alone; approving and rejecting through the API
with no code, a wrong one, and a code that was already used. Enrolment from the QR code and the backup codes
go through the real pages; a requester is never asked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from base64 import b32decode
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from payments.models import AuditEvent, PayoutStatus
from payments.payouts import services as payout_services
from tests.clock import travel_to
from tests.factories import make_approver, make_requester, make_user
from tests.payments.factories import token_client as api

pytestmark = pytest.mark.django_db

PASSWORD = "pass-Word-123"  # tests.factories.make_user


@pytest.fixture(autouse=True)
def required(settings, monkeypatch):
    settings.ADMIN_REQUIRE_2FA = True
    # django-otp delays the next try after a wrong code (2 s, doubling); these tests try codes back to back.
    # test_wrong_codes_are_throttled keeps the delay.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    monkeypatch.setattr(payout_services, "queue_send", lambda payout_id: None)


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enrolled(user) -> TOTPDevice:
    # "default": the name the enrolment gives the device (test_superuser_..._enrols_from_a_qr_code).
    return TOTPDevice.objects.create(user=user, name="default", confirmed=True)


def pending_payout():
    return payout_services.payout_request_disbursement(
        requested_by=make_requester(), phone="0712345678", amount=Decimal("500"), remarks="Trainer fee")




def password_step(client: Client, username: str, password: str = PASSWORD):
    return client.post("/account/login/?next=/admin/", {
        "login_view-current_step": "auth", "auth-username": username, "auth-password": password})


# --- The admin ------------------------------------------------------------------------------------


def test_the_admin_login_page_sends_to_the_two_step_login():
    response = Client().get("/admin/login/?next=/admin/payments/payout/")
    assert response.status_code == 302
    assert response["Location"] == "/account/login/?next=%2Fadmin%2Fpayments%2Fpayout%2F"


def test_an_approvers_password_alone_does_not_open_the_admin():
    approver = make_approver("alan")
    device = enrolled(approver)
    client = Client()
    step = password_step(client, "alan")
    assert step.status_code == 200
    assert 'name="token-otp_token"' in step.content.decode()  # asked for the code
    assert client.get("/admin/").status_code == 302  # not signed in yet

    wrong = client.post("/account/login/?next=/admin/", {"login_view-current_step": "token",
                                                         "token-otp_token": "000000"})
    assert wrong.status_code == 200 and client.get("/admin/").status_code == 302

    done = client.post("/account/login/?next=/admin/", {"login_view-current_step": "token",
                                                        "token-otp_token": code_for(device)})
    assert done.status_code == 302
    assert client.get("/admin/payments/payout/").status_code == 200


def test_the_login_takes_a_code_retyped_after_one_typo_but_makes_a_second_wrong_guess_wait(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 1  # django-otp's default
    approver = make_approver("alan")
    device = enrolled(approver)
    wrong = "123456" if code_for(device) != "123456" else "654321"

    def code_step(client, code):
        return client.post(
            "/account/login/?next=/admin/", {"login_view-current_step": "token", "token-otp_token": code}
        )

    with travel_to("2026-12-07T08:30:00+03:00", tick=False):
        typo = Client()
        password_step(typo, "alan")
        assert code_step(typo, wrong).status_code == 200
        assert code_step(typo, code_for(device)).status_code == 302  # retyped at once: signed in
        assert typo.get("/admin/payments/payout/").status_code == 200
    with travel_to("2026-12-07T08:31:00+03:00", tick=False):
        guesser = Client()
        password_step(guesser, "alan")
        code_step(guesser, wrong)
        code_step(guesser, wrong)
        throttled = code_step(guesser, code_for(device))
        assert throttled.status_code == 200 and "Verification temporarily disabled" in throttled.content.decode()
        assert guesser.get("/admin/").status_code == 302  # not signed in


def test_a_session_signed_in_by_password_only_is_sent_back_to_the_two_step_login():
    approver = make_approver("alan")
    enrolled(approver)
    client = Client()
    client.force_login(approver)  # as the admin's own login did before ADMIN_REQUIRE_2FA was on
    response = client.get("/admin/payments/payout/")
    assert response.status_code == 302
    assert response["Location"] == "/account/login/?next=%2Fadmin%2Fpayments%2Fpayout%2F"
    assert "_auth_user_id" not in client.session  # signed out: the two-step login is the only way back


def test_a_backup_code_signs_in_once():
    approver = make_approver("alan")
    enrolled(approver)
    backup = StaticDevice.objects.create(user=approver, name="backup", confirmed=True)
    backup.token_set.create(token="k3yc0d3x")
    for expected in (302, 200):  # accepted, then refused the second time
        client = Client()
        password_step(client, "alan")
        client.post("/account/login/?next=/admin/", {"login_view-current_step": "token",
                                                     "wizard_goto_step": "backup"})
        response = client.post("/account/login/?next=/admin/", {"login_view-current_step": "backup",
                                                                 "backup-otp_token": "k3yc0d3x"})
        assert response.status_code == expected


def test_superuser_without_a_device_enrols_from_a_qr_code_before_any_admin_page():
    boss = make_user("boss", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(boss)
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/account/two_factor/setup/"
    assert "need a second factor" in response.content.decode()

    generator = client.post("/account/two_factor/setup/", {"setup_view-current_step": "welcome"})
    page = generator.content.decode()
    assert 'src="/account/two_factor/qrcode/"' in page
    qr = client.get("/account/two_factor/qrcode/")
    assert qr.status_code == 200 and qr["Content-Type"].startswith("image/svg+xml")  # drawn here, no service
    secret = client.session["django_two_factor-qr_secret_key"]
    device = TOTPDevice(key=b32decode(secret).hex())
    done = client.post("/account/two_factor/setup/", {"setup_view-current_step": "generator",
                                                      "generator-token": code_for(device)})
    assert done.status_code == 302 and done["Location"] == "/account/two_factor/setup/complete/"
    assert TOTPDevice.objects.filter(user=boss, confirmed=True).count() == 1
    assert client.get("/admin/").status_code == 200  # verified by the enrolment

    tokens = client.post("/account/two_factor/backup/tokens/")
    assert tokens.status_code == 302
    listing = client.get("/account/two_factor/backup/tokens/").content.decode()
    assert len(StaticDevice.objects.get(user=boss).token_set.all()) == 10
    assert all(t.token in listing for t in StaticDevice.objects.get(user=boss).token_set.all())


def test_a_requester_is_not_asked_for_a_second_factor():
    client = Client()
    client.force_login(make_requester("rita"))
    assert client.get("/admin/payments/payout/").status_code == 200


def test_superusers_see_everyones_devices_and_approvers_do_not():
    approver = make_approver("alan")
    enrolled(approver)
    boss = make_user("boss", is_staff=True, is_superuser=True)
    boss_client = Client()
    boss_client.force_login(boss)
    enrolled(boss)
    session = boss_client.session
    session["otp_device_id"] = TOTPDevice.objects.get(user=boss).persistent_id  # verified, as after the login
    session.save()
    listing = boss_client.get("/admin/otp_totp/totpdevice/")
    assert listing.status_code == 200 and "alan" in listing.content.decode()


def test_the_second_factor_pages_run_no_inline_script_and_load_nothing_from_elsewhere():
    client = Client()
    client.force_login(make_approver("alan"))
    for url in ("/account/login/", "/account/two_factor/setup/", "/account/two_factor/"):
        page = client.get(url).content.decode()
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) is None, url
        assert re.search(r"\son[a-z]+\s*=", page) is None, url
        assert "javascript:" not in page and "cdnjs" not in page and "//cdn" not in page, url


def test_off_by_default_outside_production_and_on_in_production():
    root = Path(__file__).resolve().parents[2]
    code = "import django,os;os.environ['DJANGO_SETTINGS_MODULE']='mpesa_payouts.settings';" \
           "from django.conf import settings;print(settings.ADMIN_REQUIRE_2FA)"
    base = {k: v for k, v in os.environ.items() if k not in ("ADMIN_REQUIRE_2FA", "MPESA_ENVIRONMENT")}
    answers = {}
    for environment in ("simulator", "production"):
        out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                             env={**base, "MPESA_ENVIRONMENT": environment})
        answers[environment] = out.stdout.strip()
    assert answers == {"simulator": "False", "production": "True"}


# --- The API: X-OTP ---------------------------------------------------------------------------------


def test_api_approval_needs_a_fresh_code_and_a_used_one_is_refused(settings):
    settings.SECOND_FACTOR_REAUTH_MINUTES = 0  # every decision its own code
    approver = make_approver("alan")
    device = enrolled(approver)
    payout, other = pending_payout(), pending_payout()
    client = api(approver)

    missing = client.post(f"/api/payouts/{payout.pk}/approve/")
    assert missing.status_code == 403
    assert missing.json()["code"] == "otp_required" and "X-OTP" in missing.json()["detail"]
    wrong = client.post(f"/api/payouts/{payout.pk}/approve/", HTTP_X_OTP="123456" if code_for(device) != "123456"
                        else "654321")
    assert (wrong.status_code, wrong.json()["code"]) == (403, "otp_invalid")
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL and not payout.approvals.exists()

    code = code_for(device)
    assert client.post(f"/api/payouts/{payout.pk}/approve/", HTTP_X_OTP=code).status_code == 200
    replay = client.post(f"/api/payouts/{other.pk}/approve/", HTTP_X_OTP=code)
    assert (replay.status_code, replay.json()["code"]) == (403, "otp_invalid")
    assert "already used" in replay.json()["detail"]
    other.refresh_from_db()
    assert other.status == PayoutStatus.PENDING_APPROVAL
    # The next code the app shows works.
    assert client.post(f"/api/payouts/{other.pk}/approve/", HTTP_X_OTP=code_for(device, steps_ahead=1)
                       ).status_code == 200
    refused = AuditEvent.objects.filter(action="second_factor_refused", actor=approver)
    assert sorted(e.details["reason"] for e in refused) == ["otp_invalid", "otp_invalid", "otp_required"]
    assert all(code not in str(e.details) for e in refused)


def test_wrong_codes_are_throttled_but_a_retyped_code_after_one_typo_is_not(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 1  # django-otp's default
    approver = make_approver("alan")
    device = enrolled(approver)
    payout, other = pending_payout(), pending_payout()
    client = api(approver)
    wrong = "123456" if code_for(device) != "123456" else "654321"
    with travel_to("2026-12-07T08:30:00+03:00", tick=False):
        assert client.post(f"/api/payouts/{payout.pk}/approve/", HTTP_X_OTP=wrong).status_code == 403
        # One typo: the code retyped at once is accepted.
        assert client.post(f"/api/payouts/{payout.pk}/approve/", HTTP_X_OTP=code_for(device)).status_code == 200
    with travel_to("2026-12-07T08:35:30+03:00", tick=False):  # after the re-authentication window
        for _ in range(2):
            assert client.post(f"/api/payouts/{other.pk}/approve/", HTTP_X_OTP=wrong).status_code == 403
        # Straight after a second wrong guess even the right code is refused: guessing 10^6 codes is no option.
        refused = client.post(f"/api/payouts/{other.pk}/approve/", HTTP_X_OTP=code_for(device))
        assert (refused.status_code, refused.json()["code"]) == (403, "otp_throttled")
    other.refresh_from_db()
    assert other.status == PayoutStatus.PENDING_APPROVAL


def test_after_a_correct_code_the_same_token_decides_without_a_new_one_for_the_window(settings):
    settings.SECOND_FACTOR_REAUTH_MINUTES = 5
    alan, nina = make_approver("alan"), make_approver("nina")
    device = enrolled(alan)
    enrolled(nina)
    first, second, third, fourth = (pending_payout() for _ in range(4))
    client = api(alan)
    with travel_to("2026-12-07T08:30:00+03:00", tick=False):
        assert client.post(f"/api/payouts/{first.pk}/approve/", HTTP_X_OTP=code_for(device)).status_code == 200
    with travel_to("2026-12-07T08:34:50+03:00", tick=False):
        assert client.post(f"/api/payouts/{second.pk}/approve/").status_code == 200  # no new code
        rejected = client.post(f"/api/payouts/{third.pk}/reject/", {"reason": "Not owed"}, format="json")
        assert (rejected.status_code, rejected.json()["status"]) == (200, "rejected")
        # Another approver's token, and alan's browser session, prove their own code.
        assert api(nina).post(f"/api/payouts/{fourth.pk}/approve/").json()["code"] == "otp_required"
        session = APIClient()
        session.force_login(alan)
        assert session.post(f"/api/payouts/{fourth.pk}/approve/").json()["code"] == "otp_required"
    with travel_to("2026-12-07T08:35:01+03:00", tick=False):  # the window has closed
        late = client.post(f"/api/payouts/{fourth.pk}/approve/")
        assert (late.status_code, late.json()["code"]) == (403, "otp_required")
    fourth.refresh_from_db()
    assert fourth.status == PayoutStatus.PENDING_APPROVAL and not fourth.approvals.exists()


def test_a_thief_of_an_approvers_token_cannot_lock_the_approver_out_and_the_approver_is_told(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 1  # django-otp's default
    approver = make_approver("alan")
    device = enrolled(approver)
    payout = pending_payout()
    client = api(approver)  # the thief and the approver's own system hold the same token
    wrong = "123456" if code_for(device) != "123456" else "654321"
    thief = [client.post(f"/api/payouts/{payout.pk}/approve/", HTTP_X_OTP=wrong, REMOTE_ADDR="203.0.113.66")
             for _ in range(4)]  # fmt: skip
    # The first wrong code is taken for a typo (the next try is checked at once); after the second they wait.
    assert [r.json()["code"] for r in thief] == ["otp_invalid", "otp_invalid", "otp_throttled", "otp_throttled"]
    assert "wait" in thief[-1].json()["detail"]

    # The approver, from their own address, is not delayed by the thief's wrong codes.
    approved = client.post(f"/api/payouts/{payout.pk}/approve/", HTTP_X_OTP=code_for(device),
                           REMOTE_ADDR="198.51.100.7")  # fmt: skip
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == PayoutStatus.APPROVED

    # ...and is told, in the audit trail of their own account, where the wrong codes came from.
    told = AuditEvent.objects.filter(action="second_factor_refused", actor=approver, details__reason="otp_invalid")
    assert [e.details["notice"] for e in told] == [
        "1 wrong code for your device from 203.0.113.66",
        "2 wrong codes for your device from 203.0.113.66",
    ]
    assert all(wrong not in str(e.details) for e in AuditEvent.objects.filter(actor=approver))


def test_api_rejection_needs_a_code_too_and_an_unenrolled_approver_is_told_to_enrol():
    enrolled_approver, newcomer = make_approver("alan"), make_approver("nina")
    device = enrolled(enrolled_approver)
    payout = pending_payout()
    body = {"reason": "Not owed"}
    assert api(enrolled_approver).post(f"/api/payouts/{payout.pk}/reject/", body, format="json"
                                       ).json()["code"] == "otp_required"
    told = api(newcomer).post(f"/api/payouts/{payout.pk}/reject/", body, format="json", HTTP_X_OTP="123456")
    assert (told.status_code, told.json()["code"]) == (403, "otp_not_enrolled")
    assert "/account/two_factor/setup/" in told.json()["detail"]
    done = api(enrolled_approver).post(f"/api/payouts/{payout.pk}/reject/", body, format="json",
                                       HTTP_X_OTP=code_for(device))
    assert (done.status_code, done.json()["status"]) == (200, "rejected")


def test_without_the_setting_no_code_is_asked(settings):
    settings.ADMIN_REQUIRE_2FA = False
    payout = pending_payout()
    assert api(make_approver()).post(f"/api/payouts/{payout.pk}/approve/").status_code == 200
    client = Client()
    client.force_login(make_approver("alan"))
    assert client.get("/admin/payments/payout/").status_code == 200


# --- The pages: the console's look, enrolment's last step ---------------------------------------------


def test_the_two_step_login_is_in_the_console_look_and_shows_back_only_where_it_goes_back():
    approver = make_approver("alan")
    enrolled(approver)
    client = Client()
    first = client.get("/account/login/").content.decode()
    assert "payments/console.css" in first and "admin/css/forms.css" in first
    assert "disabled" not in first and ">Back<" not in first  # nothing to go back to on the first step
    assert 'value="Next"' in first
    code_step = password_step(client, "alan").content.decode()
    assert 'name="token-otp_token"' in code_step
    assert 'name="wizard_goto_step" type="submit" value="auth"' in code_step and ">Back<" in code_step


def test_enrolment_ends_with_backup_codes_that_sign_in_and_a_way_to_the_console():
    approver = make_approver("alan")
    client = Client()
    client.force_login(approver)
    client.post("/account/two_factor/setup/", {"setup_view-current_step": "welcome"})
    device = TOTPDevice(key=b32decode(client.session["django_two_factor-qr_secret_key"]).hex())
    done = client.post(
        "/account/two_factor/setup/", {"setup_view-current_step": "generator", "generator-token": code_for(device)}
    )
    assert done["Location"] == "/account/two_factor/setup/complete/"

    page = client.get(done["Location"]).content.decode()
    codes = [t.token for t in StaticDevice.objects.get(user=approver).token_set.all()]
    assert len(codes) == 10 and all(code in page for code in codes)
    assert '<a href="/admin/" class="button default">Go to the console</a>' in page
    assert "Back to Account Security" not in page
    assert client.get(done["Location"]).content.decode().count(codes[0]) == 1  # shown again, not renewed
    assert StaticDevice.objects.get(user=approver).token_set.count() == 10

    # A code from that page signs in when the phone is not at hand.
    other = Client()
    password_step(other, "alan")
    other.post("/account/login/?next=/admin/", {"login_view-current_step": "token", "wizard_goto_step": "backup"})
    signed_in = other.post(
        "/account/login/?next=/admin/", {"login_view-current_step": "backup", "backup-otp_token": codes[0]}
    )
    assert signed_in.status_code == 302
    assert other.get("/admin/payments/payout/").status_code == 200
