"""Every admin login, failed login and lock-out is a row in the audit trail (AuditEvent, append-only),
next to the payouts' own events: actions `login`, `login_failed`, `login_locked_out` (and
`second_factor_refused` from the API, payments/second_factor.py). No password or code is ever written."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.shortcuts import render

from payments.callbacks.network import client_ip
from payments.models import AuditAction

USERNAME_MAX = 150


def _record(action: str, *, request, actor=None, username: str = "", **details) -> None:
    from payments.audit_events import event_record
    from payments.models import EventSource

    if actor is None and username:
        actor = get_user_model().objects.filter(username=username).first()
    event_record(
        action=action,
        source=EventSource.ADMIN,
        actor=actor,
        details={"username": username[:USERNAME_MAX], "ip": client_ip(request) if request else None, **details},
    )


def on_login(sender, request, user, **kwargs) -> None:
    _record(AuditAction.LOGIN, request=request, actor=user, username=user.get_username())


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str((credentials or {}).get("username") or "")
    _record(AuditAction.LOGIN_FAILED, request=request, username=username,
            locked_out=bool(getattr(request, "axes_locked_out", False)))


def on_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    _record(AuditAction.LOGIN_LOCKED_OUT, request=request, username=str(username or ""),
            failure_limit=settings.AXES_FAILURE_LIMIT, cooloff_minutes=settings.AXES_COOLOFF_MINUTES)


def lockout_response(request, original_response=None, credentials=None):
    """The page a locked-out login gets (429): why, for how long, and how a superuser unlocks it."""
    return render(
        request,
        "axes/lockout.html",
        {"failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_minutes": settings.AXES_COOLOFF_MINUTES},
        status=429,
    )


def connect() -> None:
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import user_logged_in, user_login_failed

    user_logged_in.connect(on_login, dispatch_uid="payments.login_audit.login")
    user_login_failed.connect(on_login_failed, dispatch_uid="payments.login_audit.failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="payments.login_audit.locked_out")
