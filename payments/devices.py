"""Second-factor devices: who may add one, and a record of every one added or removed.

A person who already has a confirmed device adds another only from a session verified with one of theirs
(the two-step login). A session signed in by password alone (from before ADMIN_REQUIRE_2FA was on, or a
stolen cookie) is refused the enrolment wizard: otherwise it would enrol the attacker's authenticator and
approve with its codes. A superuser adds or deletes anyone's devices in the admin, from their own verified
session (AdminSecondFactorMiddleware keeps an unverified superuser out of the admin).

Every device added or removed, wherever it happens (the wizard, the admin, the disable page, backup codes),
is an audit event (`second_factor_device_added` / `second_factor_device_removed`, never with the secret)
and a `second_factor_changed` alert to the admins: an enrolment nobody expected is seen at once.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models.signals import post_delete, post_save
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticToken
from two_factor.views import SetupCompleteView as TwoFactorSetupCompleteView
from two_factor.views import SetupView as TwoFactorSetupView

from payments.models import AuditAction, EventSource
from payments.signals import second_factor_changed

# The admin marks the device it saves or deletes with the superuser who did it (payments/admin/devices.py);
# elsewhere a device is changed by its owner, from their own session.
CHANGED_BY = "_changed_by"


class SetupView(TwoFactorSetupView):
    """django-two-factor-auth's enrolment wizard, refused to an unverified session of someone who already has a
    device. Its GET already sends such a person away; its POST steps did not. (The class keeps its name: the
    wizard's form prefix, `setup_view-`, is made from it.)"""

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and not user.is_verified() and _has_confirmed_device(user):
            from payments.audit_events import event_record

            event_record(
                action=AuditAction.SECOND_FACTOR_REFUSED,
                source=EventSource.ADMIN,
                actor=user,
                details={"reason": "setup_unverified", "path": request.path},
            )
            raise PermissionDenied(
                "You already have a second factor. To add another authenticator, sign in again with a code from "
                "the one you have (or a backup code); if you lost it, ask a superuser to remove it."
            )
        return super().dispatch(request, *args, **kwargs)


BACKUP_CODES = 10  # as many as the package's "Show or renew backup codes" page makes


class SetupCompleteView(TwoFactorSetupCompleteView):
    """Enrolment's last page makes the backup codes (if the person has none left) and shows them: without
    them a lost phone locks an approver out until a superuser removes their device. (The package's view is
    already never cached and open only to a session verified with a device.)"""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        if _has_confirmed_device(user):
            # The same device the package's backup codes page uses, so that page shows and renews these.
            device, _ = user.staticdevice_set.get_or_create(defaults={"name": "backup"})
            if not device.token_set.exists():
                for _ in range(BACKUP_CODES):
                    device.token_set.create(token=StaticToken.random_token())
            context["backup_tokens"] = list(device.token_set.all())
        return context


def _has_confirmed_device(user) -> bool:
    return next(iter(devices_for_user(user, confirmed=True)), None) is not None


def _kind(device) -> str:
    return device._meta.verbose_name


def _record(device, action: str) -> None:
    from payments.audit_events import event_record

    changed_by = getattr(device, CHANGED_BY, None) or device.user
    event = event_record(
        action=action,
        source=EventSource.ADMIN,
        actor=changed_by,
        details={
            "user": device.user.get_username(),
            "device": _kind(device),
            "name": device.name,
            "confirmed": device.confirmed,
            "by_owner": changed_by.pk == device.user_id,
        },
    )
    second_factor_changed.send(sender=type(device), device=device, event=event)


def on_device_saved(sender, instance, created, raw=False, **kwargs) -> None:
    # Only creation: a TOTP device is saved again at every code it checks (its last time step, throttling).
    if created and not raw:
        _record(instance, AuditAction.SECOND_FACTOR_DEVICE_ADDED)


def on_device_deleted(sender, instance, **kwargs) -> None:
    _record(instance, AuditAction.SECOND_FACTOR_DEVICE_REMOVED)


def connect() -> None:
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    for model in (TOTPDevice, StaticDevice):
        label = model._meta.label_lower
        post_save.connect(on_device_saved, sender=model, dispatch_uid=f"payments.devices.saved.{label}")
        post_delete.connect(on_device_deleted, sender=model, dispatch_uid=f"payments.devices.deleted.{label}")
