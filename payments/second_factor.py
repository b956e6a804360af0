"""The second factor: TOTP (django-otp, enrolment and backup codes by django-two-factor-auth).

With ADMIN_REQUIRE_2FA on, whoever may make a money decision (approve payouts, approve funding, accept a
statement's postings: MONEY_DECISIONS) and superusers
- log into the admin through the two-step login (`/account/login/`: password, then a code from their
  authenticator app or a backup code); one who has no device yet is sent to enrol (`/account/two_factor/setup/`:
  a QR code rendered here as SVG, then backup codes) before any admin page opens;
- approve or reject through the API only with a fresh code in the `X-OTP` header: a code is accepted once
  (django-otp refuses a time step it has already seen) and wrong codes are throttled per device *and caller*
  (address and credential): a thief of an approver's API token who sends wrong codes delays only themselves,
  and every wrong code is an audit event telling the approver "N wrong codes for your device from <ip>".
  The first retry after one wrong code is let through at once (a typo is not an attack), at the admin's
  two-step login as through the API;
- after a correct code, the same user with the same API token (or session) decides again for
  SECOND_FACTOR_REAUTH_MINUTES without a new code: the window is kept on the server (the cache), never in a
  cookie, keyed by a digest of the token so the token itself is stored nowhere new.
Requesters are not asked (they cannot move money alone). With the setting off (the local simulator), the
admin's own login page is used and nothing is asked.
"""

from __future__ import annotations

import hashlib
import math
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse

from core.api_throttles import shared_or_local as throttle_cache
from core.errors import PermissionDenied
from payments.models import AuditAction
from payments.roles import APPROVE_PERMISSION

# Each permission that lets its holder move ledger money or release a payout: holding any one asks the second
# factor, so a role made of one of them (a funding approver without the payout role) is not a way around it.
MONEY_DECISIONS = (APPROVE_PERMISSION, "ledger.approve_fundingrequest", "ledger.accept_statementproposal")
OTP_HEADER = "HTTP_X_OTP"
SETUP_PATH_PREFIX = "/account/"


def second_factor_required(user) -> bool:
    """Whether this user must prove a second factor (ADMIN_REQUIRE_2FA, and whoever may make a money
    decision: the permissions the services ask, however they were granted; superusers hold them)."""
    if not settings.ADMIN_REQUIRE_2FA or user is None or not user.is_authenticated or not user.is_active:
        return False
    return any(user.has_perm(permission) for permission in MONEY_DECISIONS)


def _totp_devices(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=True)


def has_device(user) -> bool:
    """Whether the two-step login will ask this user for a code: it asks for the device two-factor-auth
    enrolled ("default"); a user with none is sent to enrol, whatever other devices an admin gave them."""
    from two_factor.utils import default_device

    return default_device(user) is not None


def require_api_code(request, *, what: str) -> None:
    """Refuse (403, with why) an approval or rejection through the API without a fresh code from the user's
    authenticator in X-OTP, when the second factor is required of them. Each refusal is in the audit trail."""
    user = request.user
    if not second_factor_required(user):
        return
    if _within_reauth_window(request):
        return
    code = (request.META.get(OTP_HEADER) or "").strip()
    if not code:
        _refuse(request, "otp_required",
                f"A second factor is required to {what} (ADMIN_REQUIRE_2FA): send a fresh 6-digit code from your "
                "authenticator app in the X-OTP header.")
    devices = list(_totp_devices(user).values_list("pk", flat=True))
    if not devices:
        _refuse(request, "otp_not_enrolled",
                f"A second factor is required to {what}, and you have no authenticator set up: enrol at "
                "/account/two_factor/setup/ first.")
    from django_otp.plugins.otp_totp.models import TOTPDevice

    caller = _caller(request)
    wait = max(_wrong_codes.wait_seconds(device_id=pk, caller=caller) for pk in devices)
    if wait > 0:
        _refuse(request, "otp_throttled",
                f"Too many wrong X-OTP codes from here: wait {wait} s before the next try.", ip=caller[0])
    for pk in devices:
        # Under the device's row lock, so two requests carrying one code cannot both pass: the check records
        # the time step it accepted and refuses it, and every earlier one, afterwards.
        with transaction.atomic():
            device = TOTPDevice.objects.select_for_update().get(pk=pk)
            if _code_matches(device, code):
                for each in devices:
                    _wrong_codes.forget(device_id=each, caller=caller)
                _open_reauth_window(request)
                return
    failures = max(_wrong_codes.record(device_id=pk, caller=caller) for pk in devices)
    _refuse(request, "otp_invalid",
            f"The X-OTP code does not allow you to {what}: it is wrong, expired or already used (each code works "
            "once). Send the next code your authenticator app shows.",
            ip=caller[0], failures=failures,
            notice=f"{failures} wrong code{'s' if failures != 1 else ''} for your device from {caller[0]}")


def _code_matches(device, code: str) -> bool:
    """TOTPDevice.verify_token without its throttle, which is one per device: wrong codes from anyone holding
    an approver's API token would delay the approver's own codes, in the API and at the admin login, for as
    long as the thief keeps sending them. Our throttle (_wrong_codes) counts per device and caller instead."""
    from django_otp.oath import TOTP

    try:
        token = int(code)
    except ValueError:
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if not totp.verify(token, device.tolerance, device.last_t + 1):
        return False
    device.last_t = totp.t()
    if getattr(settings, "OTP_TOTP_SYNC", True):
        device.drift = totp.drift
    device.set_last_used_timestamp(commit=False)
    device.save(update_fields=["last_t", "drift", "last_used_at"])
    return True


def _caller(request) -> tuple[str, str]:
    """(address, a digest of the credential): who is sending codes, as far as we can tell them apart."""
    from payments.callbacks.network import client_ip

    credential = getattr(request.auth, "key", None) or request.session.session_key or ""
    return client_ip(request) or "unknown", hashlib.sha256(credential.encode()).hexdigest()[:16]


class _WrongCodes:
    """Wrong X-OTP codes per (device, address, credential), in the cache (Redis; per process while it is down,
    core/api_throttles.py). After n wrong codes the next try waits OTP_TOTP_THROTTLE_FACTOR * 2^(n-1) s,
    as django-otp's own rule, for that caller only."""

    def _key(self, device_id: int, caller: tuple[str, str]) -> str:
        digest = hashlib.sha256(f"{device_id}|{caller[0]}|{caller[1]}".encode()).hexdigest()[:32]
        return f"otp-wrong:{digest}"

    def wait_seconds(self, *, device_id: int, caller: tuple[str, str]) -> int:
        factor = getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)
        seen = throttle_cache.get(self._key(device_id, caller))
        if not factor or not seen:
            return 0
        count, last = seen
        if count == 1:
            return 0  # one wrong code is a typo: the code retyped at once is checked (forgive_one_typo's rule)
        return max(0, math.ceil(last + factor * 2 ** (count - 1) - time.time()))

    def record(self, *, device_id: int, caller: tuple[str, str]) -> int:
        key = self._key(device_id, caller)
        count = (throttle_cache.get(key) or (0, 0))[0] + 1
        throttle_cache.set(key, (count, time.time()), 24 * 3600)
        return count

    def forget(self, *, device_id: int, caller: tuple[str, str]) -> None:
        throttle_cache.set(self._key(device_id, caller), None, 1)


_wrong_codes = _WrongCodes()


def forgive_one_typo(device) -> None:
    """Let the retry after a single wrong code be checked at once (django-otp would refuse it for
    OTP_TOTP_THROTTLE_FACTOR seconds, so a retyped code read "throttled"): one wrong code is a typo, not a
    guess. The failure count is kept, so a second wrong code in a row waits django-otp's doubled delay
    (2 s, then 4 s, ...). Only this object is changed, for the check about to run."""
    if getattr(device, "throttling_failure_count", 0) == 1:
        device.throttling_failure_timestamp = None


def _reauth_key(request) -> str:
    # Per user and per credential: another token of the same user, or a session, proves its own code.
    credential = getattr(request.auth, "key", None) or request.session.session_key or ""
    digest = hashlib.sha256(credential.encode()).hexdigest()
    return f"second-factor-reauth:{request.user.pk}:{digest}"


def _within_reauth_window(request) -> bool:
    return settings.SECOND_FACTOR_REAUTH_MINUTES > 0 and cache.get(_reauth_key(request)) is not None


def _open_reauth_window(request) -> None:
    minutes = settings.SECOND_FACTOR_REAUTH_MINUTES
    if minutes > 0:
        cache.set(_reauth_key(request), True, timeout=minutes * 60)


def _refuse(request, code: str, message: str, **details) -> None:
    from payments.audit_events import event_record
    from payments.models import EventSource

    event_record(action=AuditAction.SECOND_FACTOR_REFUSED, source=EventSource.API, actor=request.user,
                 details={"reason": code, "path": request.path, **details})
    raise PermissionDenied(message, code=code)


class AdminSecondFactorMiddleware:
    """Keeps approvers and superusers out of the admin until their session has passed a second factor."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.ADMIN_REQUIRE_2FA:
            redirect = self._redirect(request)
            if redirect is not None:
                return redirect
        return self.get_response(request)

    def _redirect(self, request):
        admin_root = reverse("admin:index")
        path = request.path
        if not path.startswith(admin_root):
            return None
        login = reverse("two_factor:login")
        if path == reverse("admin:login"):
            # The admin's own login page checks only the password: use the two-step one.
            target = request.GET.get("next") or admin_root
            return HttpResponseRedirect(f"{login}?{urlencode({'next': target})}")
        if path == reverse("admin:logout"):
            return None
        user = getattr(request, "user", None)
        if not second_factor_required(user) or user.is_verified():
            return None
        if has_device(user):
            # Signed in by password only (before the setting was on, or elsewhere): sign in again with the code.
            logout(request)
            return HttpResponseRedirect(f"{login}?{urlencode({'next': path})}")
        messages.warning(
            request,
            "Payout approvers and superusers need a second factor: scan the QR code with an authenticator app "
            "and enter the code it shows; then keep the backup codes somewhere safe.",
        )
        return HttpResponseRedirect(reverse("two_factor:setup"))
