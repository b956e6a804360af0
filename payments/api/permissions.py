"""Who may call what: the API grants exactly what the admin grants, from the same permissions.

The admin lets in only active staff users, and then offers each action to those holding its permission
(payments/roles.py). The API asks the same two questions, so a staff user in no group reads nothing here
either, and a token cannot do what its user could not do in the admin. The services check the action's
permission again.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from payments.roles import (
    APPROVE_PERMISSION,
    MANAGE_WEBHOOKS,
    REQUEST_PERMISSION,
    VIEW_CALLBACKS,
    VIEW_PAYMENTS,
    VIEW_PAYOUTS,
)


def admin_user(user) -> bool:
    """The admin's own gate (AdminSite.has_permission): an active staff user."""
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class _Requires(BasePermission):
    """Every permission in `perms`, on an active staff user."""

    perms: tuple[str, ...] = ()
    message = "You do not have permission to do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return admin_user(user) and user.has_perms(self.perms)


class CanRequest(_Requires):
    perms = (REQUEST_PERMISSION,)
    message = "You need the Payout requesters role (permission request_payout) to request or edit payouts."


class CanApprove(_Requires):
    perms = (APPROVE_PERMISSION,)
    message = "You need the Payout approvers role (permission approve_payout) to approve or reject payouts."


class CanReadPayouts(_Requires):
    perms = (VIEW_PAYOUTS,)
    message = "You need the view permission on payouts (either payout role) to read payouts."


class CanReadPayments(_Requires):
    perms = (VIEW_PAYMENTS,)
    message = "You need the view permission on payments (either payout role) to read payments."


class CanReadReconciliation(_Requires):
    """Stats and discrepancies show payouts, payments and callbacks: both roles hold all three views."""

    perms = (VIEW_PAYOUTS, VIEW_PAYMENTS, VIEW_CALLBACKS)
    message = "You need the view permissions on payouts, payments and callbacks (either payout role)."


class CanReadAny(BasePermission):
    """The API's schema: anyone who may read something through it (a payout role, or a business's own system
    holding `manage_webhooks`, which reads the events feed)."""

    message = "You need one of the payout roles, or manage_webhooks, to read the API's schema."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if admin_user(user) and any(user.has_perm(p) for p in (VIEW_PAYOUTS, VIEW_PAYMENTS)):
            return True
        return bool(user and user.is_authenticated and user.is_active and user.has_perm(MANAGE_WEBHOOKS))
