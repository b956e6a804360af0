"""The second factor and four eyes wherever money is touched (issue 24, findings 4-6), replayed through the
real routes: funding approved with a token alone; a password-only session enrolling its own authenticator;
a made-up statement whose upload posted KES 5,000,000 into the ledger and squatted the receipt of a real top-up.
"""

from __future__ import annotations

from base64 import b32decode
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from ledger import accounts
from ledger.models import FundingRequest, FundingStatus
from notifications.models import Notification
from payments.models import AuditEvent, FinanceJob, FinanceJobStatus
from tests.factories import make_approver, make_requester, make_user
from tests.payments.reconciliation.statements import charge_row, transfer_row, write_csv
from tests.security.test_second_factor import PASSWORD, api, code_for, enrolled, required  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ledger_accounts():
    accounts._ensured.clear()


def utility_balance() -> Decimal:
    """As finance reads it: `GET /api/ledger/accounts/`."""
    reader = get_user_model().objects.filter(username="auditor").first() or make_user(
        "auditor", is_staff=True, is_superuser=True
    )
    rows = api(reader).get("/api/ledger/accounts/").json()
    return Decimal(next(row["balance"] for row in rows if row["code"] == accounts.MPESA_UTILITY))


def funding_request(amount: str = "5000000.00") -> int:
    created = api(make_requester("rita")).post(
        "/api/ledger/funding/", {"kind": "top_up", "amount": amount, "note": "Top-up from the bank"}, format="json"
    )
    assert created.status_code == 201, created.content
    return created.json()["id"]


# --- Finding 5: funding is approved with the second factor -----------------------------------------------


def test_funding_approval_through_the_api_needs_a_fresh_code():
    approver = make_approver("alan")
    device = enrolled(approver)
    request_id = funding_request()
    client = api(approver)

    missing = client.post(f"/api/ledger/funding/{request_id}/approve/")
    assert (missing.status_code, missing.json()["code"]) == (403, "otp_required")
    assert "X-OTP" in missing.json()["detail"]
    wrong = "123456" if code_for(device) != "123456" else "654321"
    assert client.post(f"/api/ledger/funding/{request_id}/approve/", HTTP_X_OTP=wrong).json()["code"] == "otp_invalid"
    assert FundingRequest.objects.get(pk=request_id).status == FundingStatus.PENDING
    assert utility_balance() == Decimal("0")

    done = client.post(f"/api/ledger/funding/{request_id}/approve/", HTTP_X_OTP=code_for(device))
    assert (done.status_code, done.json()["status"]) == (200, "approved")
    assert utility_balance() == Decimal("5000000.00")
    refused = AuditEvent.objects.filter(action="second_factor_refused", actor=approver)
    assert sorted(e.details["reason"] for e in refused) == ["otp_invalid", "otp_required"]


def test_funding_rejection_needs_a_code_too():
    approver = make_approver("alan")
    device = enrolled(approver)
    request_id = funding_request()
    assert api(approver).post(f"/api/ledger/funding/{request_id}/reject/").json()["code"] == "otp_required"
    done = api(approver).post(f"/api/ledger/funding/{request_id}/reject/", HTTP_X_OTP=code_for(device))
    assert (done.status_code, done.json()["status"]) == (200, "rejected")


def funding_approver_only(username: str):
    """A person given only the ledger's approval (not the payout approvers' group): still a money decision."""
    user = make_user(username, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="ledger",
            codename__in=["approve_fundingrequest", "view_fundingrequest", "view_account"],
        )
    )
    return user


def test_a_funding_approver_without_the_payout_role_is_asked_too():
    finance = funding_approver_only("fiona")
    device = enrolled(finance)
    request_id = funding_request()
    assert api(finance).post(f"/api/ledger/funding/{request_id}/approve/").json()["code"] == "otp_required"
    assert utility_balance() == Decimal("0")

    # The admin: a session signed in by password alone is sent back to the two-step login.
    client = Client()
    client.force_login(finance)
    page = client.get("/admin/ledger/fundingrequest/")
    assert page.status_code == 302 and page["Location"].startswith("/account/login/")
    client.force_login(finance)  # the refused page signed the session out
    approve = client.post(f"/admin/ledger/fundingrequest/{request_id}/decide/", {"decision": "approve"})
    assert approve.status_code == 302 and approve["Location"].startswith("/account/login/")
    assert FundingRequest.objects.get(pk=request_id).status == FundingStatus.PENDING

    done = api(finance).post(f"/api/ledger/funding/{request_id}/approve/", HTTP_X_OTP=code_for(device))
    assert done.status_code == 200


# --- Finding 4: a password-only session may not enrol its own authenticator ----------------------------

ADMIN_NUMBER = "254700000001"


@pytest.fixture
def admin_number(settings):
    settings.ADMIN_WHATSAPP_NUMBERS = [ADMIN_NUMBER]
    return ADMIN_NUMBER


def pending_payout():
    from payments.payouts import services as payout_services

    return payout_services.payout_request_disbursement(
        requested_by=make_requester("rita"), phone="0712345678", amount=Decimal("500"), remarks="Trainer fee"
    )


def second_factor_alerts(after: int = 0) -> list[Notification]:
    return list(Notification.objects.filter(alert="second_factor_changed", pk__gt=after).order_by("id"))


def last_notification() -> int:
    """Enrolling the test's own devices alerts too: a test reads the alerts after this one."""
    return Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_a_password_only_session_cannot_enrol_its_own_authenticator_and_approve(admin_number):
    approver = make_approver("alan")
    enrolled(approver)
    payout = pending_payout()
    seen = last_notification()
    stolen = Client()
    stolen.force_login(approver)  # a cookie from before ADMIN_REQUIRE_2FA was on, or a stolen one

    welcome = stolen.post("/account/two_factor/setup/", {"setup_view-current_step": "welcome"})
    assert welcome.status_code == 403
    assert "already have a second factor" in welcome.content.decode()
    assert "django_two_factor-qr_secret_key" not in stolen.session  # no secret was shown
    assert stolen.get("/account/two_factor/qrcode/").status_code == 404

    # The attacker's own secret, confirmed straight away: refused as well.
    attacker = TOTPDevice(key="3132333435363738393031323334353637383930")
    confirm = stolen.post(
        "/account/two_factor/setup/", {"setup_view-current_step": "generator", "generator-token": code_for(attacker)}
    )
    assert confirm.status_code == 403
    assert TOTPDevice.objects.filter(user=approver).count() == 1
    assert not second_factor_alerts(after=seen)
    refused = AuditEvent.objects.filter(action="second_factor_refused", actor=approver)
    assert [(e.details["reason"], e.details["path"]) for e in refused] == [
        ("setup_unverified", "/account/two_factor/setup/")
    ] * 2

    # Neither the admin nor the API approves for it.
    stolen.force_login(approver)
    approve = stolen.post("/admin/payments/payout/approve/", {"ids": [payout.pk], "confirm": "1"})
    assert approve.status_code == 302 and approve["Location"].startswith("/account/login/")
    api_approve = api(approver).post(f"/api/payouts/{payout.pk}/approve/", HTTP_X_OTP=code_for(attacker))
    assert (api_approve.status_code, api_approve.json()["code"]) == (403, "otp_invalid")
    payout.refresh_from_db()
    assert payout.status == "pending_approval" and not payout.approvals.exists()


def test_a_verified_session_adds_a_device_and_the_admins_are_told(admin_number):
    approver = make_approver("alan")
    device = enrolled(approver)
    seen = last_notification()
    client = Client()
    client.post(
        "/account/login/?next=/admin/",
        {"login_view-current_step": "auth", "auth-username": "alan", "auth-password": PASSWORD},
    )
    signed_in = client.post(
        "/account/login/?next=/admin/", {"login_view-current_step": "token", "token-otp_token": code_for(device)}
    )
    assert signed_in.status_code == 302

    client.post("/account/two_factor/setup/", {"setup_view-current_step": "welcome"})
    secret = client.session["django_two_factor-qr_secret_key"]
    second = TOTPDevice(key=b32decode(secret).hex())
    done = client.post(
        "/account/two_factor/setup/", {"setup_view-current_step": "generator", "generator-token": code_for(second)}
    )
    assert done.status_code == 302 and done["Location"] == "/account/two_factor/setup/complete/"
    assert TOTPDevice.objects.filter(user=approver).count() == 2

    added = AuditEvent.objects.filter(action="second_factor_device_added").last()
    assert added.actor == approver and added.details["user"] == "alan" and added.details["by_owner"]
    assert secret not in str(added.details)
    [alert] = second_factor_alerts(after=seen)
    assert alert.to == admin_number
    assert "alan" in alert.body and "added" in alert.body and secret not in alert.body


def test_a_superuser_removes_a_device_in_the_admin_and_is_named(admin_number):
    approver = make_approver("alan")
    device = enrolled(approver)
    boss = make_user("boss", is_staff=True, is_superuser=True)
    enrolled(boss)
    client = Client()
    client.force_login(boss)
    session = client.session
    session["otp_device_id"] = TOTPDevice.objects.get(user=boss).persistent_id  # verified, as after the login
    session.save()
    seen = last_notification()

    deleted = client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not TOTPDevice.objects.filter(user=approver).exists()
    removed = AuditEvent.objects.get(action="second_factor_device_removed")
    assert removed.actor == boss and removed.details["user"] == "alan" and not removed.details["by_owner"]
    [alert] = second_factor_alerts(after=seen)
    assert "alan" in alert.body and "removed" in alert.body and "boss" in alert.body


# --- Finding 6: a statement upload proposes; another person accepts, with the code ----------------------


def verified(user) -> Client:
    """A console session signed in with the code, as the two-step login leaves it."""
    client = Client()
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = TOTPDevice.objects.filter(user=user).first().persistent_id
    session.save()
    return client


def made_up_statement(path):
    transfer_in = {
        **transfer_row("TRIN000001", "10-07-2024 09:00:00", "5,000,000.00"),
        "Withdrawn": "",
        "Paid In": "5,000,000.00",
        "Details": "Working Account to Utility Account Transfer",
    }
    return write_csv(
        path,
        [
            transfer_in,
            transfer_row("TROUT00001", "11-07-2024 09:00:00", "1,234,567.00"),
            charge_row("CHG0000001", "12-07-2024 09:00:00", "99,999.00"),
        ],
    )


def test_a_statement_upload_posts_nothing_until_another_approver_accepts_with_the_code(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CONSOLE_FILES_DIR = tmp_path / "console-files"
    settings.SECOND_FACTOR_REAUTH_MINUTES = 0  # each API decision below proves its own code
    uploader, colleague = make_approver("alan"), make_approver("ann")
    uploader_device, colleague_device = enrolled(uploader), enrolled(colleague)
    path = made_up_statement(tmp_path / "ORG_600999_Statement.csv")

    uploader_console = verified(uploader)
    with django_capture_on_commit_callbacks(execute=True):
        uploaded = uploader_console.post(
            "/admin/payments/financejob/reconcile/", {"statement": SimpleUploadedFile(path.name, path.read_bytes())}
        )
    assert uploaded.status_code == 302
    assert FinanceJob.objects.get().status == FinanceJobStatus.DONE
    job_page = uploader_console.get(uploaded["Location"]).content.decode()
    assert "Proposed for the ledger" in job_page and "in KES 5000000.00" in job_page
    assert utility_balance() == Decimal("0")  # the ledger is unchanged

    # Shown before anyone accepts it: date, receipt, kind, amount.
    listing = verified(colleague).get("/admin/ledger/statementproposal/").content.decode()
    for text in (
        "TRIN000001",
        "TROUT00001",
        "CHG0000001",
        "5000000.00",
        "-1234567.00",
        "-99999.00",
        "Transfer",
        "Charge",
        "10 Jul 2024",
    ):
        assert text in listing, text
    proposals = {p["receipt"]: p for p in api(colleague).get("/api/ledger/statement-postings/").json()["results"]}
    assert {r: (p["kind"], p["amount"], p["status"]) for r, p in proposals.items()} == {
        "TRIN000001": ("funding", "5000000.00", "proposed"),
        "TROUT00001": ("funding", "-1234567.00", "proposed"),
        "CHG0000001": ("charge", "-99999.00", "proposed"),
    }
    proposed = AuditEvent.objects.get(action="statement_postings_proposed")
    assert proposed.actor == uploader and proposed.details["transfers_in"] == "5000000.00"

    # The uploader cannot accept, in the admin nor through the API, code or not.
    ids = [p["id"] for p in proposals.values()]
    refused = uploader_console.post(
        "/admin/ledger/statementproposal/", {"action": "accept", "_selected_action": ids}, follow=True
    )
    assert "Another person must accept what the statement you uploaded proposes" in refused.content.decode()
    own = api(uploader).post(
        f"/api/ledger/statement-postings/{proposals['CHG0000001']['id']}/accept/", HTTP_X_OTP=code_for(uploader_device)
    )
    assert own.status_code == 403 and "uploaded" in own.json()["detail"]
    assert utility_balance() == Decimal("0")

    # The receipt the statement proposes blocks nothing: a real four-eyes top-up with it goes through.
    top_up = api(make_requester("rita")).post(
        "/api/ledger/funding/",
        {"kind": "top_up", "amount": "5000000.00", "note": "Bank transfer", "receipt": "TRIN000001"},
        format="json",
    )
    approved = api(colleague).post(
        f"/api/ledger/funding/{top_up.json()['id']}/approve/", HTTP_X_OTP=code_for(colleague_device)
    )
    assert (approved.status_code, approved.json()["status"]) == (200, "approved")
    assert utility_balance() == Decimal("5000000.00")

    # Another approver accepts: without the code, refused; with it, posted (the top-up's receipt: once).
    charge = f"/api/ledger/statement-postings/{proposals['CHG0000001']['id']}/accept/"
    assert api(colleague).post(charge).json()["code"] == "otp_required"
    accepted = api(colleague).post(charge, HTTP_X_OTP=code_for(colleague_device, steps_ahead=1))
    assert (accepted.status_code, accepted.json()["status"]) == (200, "accepted")
    verified(colleague).post(
        "/admin/ledger/statementproposal/",
        {"action": "accept", "_selected_action": [proposals["TRIN000001"]["id"], proposals["TROUT00001"]["id"]]},
    )
    assert utility_balance() == Decimal("5000000.00") - Decimal("1234567.00") - Decimal("99999.00")
    decisions = AuditEvent.objects.filter(action="statement_posting_accepted").order_by("id")
    assert [(e.actor, e.details["receipt"], e.details["posted"]) for e in decisions] == [
        (colleague, "CHG0000001", True),
        (colleague, "TRIN000001", False),
        (colleague, "TROUT00001", True),
    ]
