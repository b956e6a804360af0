"""The two roles of the four-eyes workflow, as Django groups.

Created by a data migration and again after every `migrate`/`flush` (post_migrate), so a database that was
flushed (tests, a reset demo) still has them."""

from __future__ import annotations

REQUESTERS = "Payout requesters"
APPROVERS = "Payout approvers"

# The one place the permission names are spelled: the services, the admin and the API all ask these.
REQUEST_PERMISSION = "payments.request_payout"  # request refunds and disbursements, edit them, upload batches
APPROVE_PERMISSION = "payments.approve_payout"  # approve, reject, review, pause and resume
VIEW_PAYOUTS = "payments.view_payout"
VIEW_PAYMENTS = "payments.view_payment"
VIEW_CALLBACKS = "payments.view_darajacallback"
# Manage webhook endpoints and read the events feed (a business's own system; superusers have it).
MANAGE_WEBHOOKS = "webhooks.manage_webhooks"

# Requesters may request and see; approvers may approve/reject and see. Nobody may delete money records.
GROUP_PERMISSIONS = {
    REQUESTERS: ["request_payout", "view_payout", "view_payment", "view_payoutbatch", "add_payoutbatch",
                 "view_darajacallback", "view_auditevent",
                 "view_financejob", "export_ledger"],
    APPROVERS: ["approve_payout", "view_payout", "view_payment", "view_payoutbatch",
                "view_darajacallback", "view_auditevent", "view_floatbalance",
                "view_financejob", "export_ledger", "reconcile_statement"],
}


def ensure_groups(group_model, permission_model) -> None:
    for name, codenames in GROUP_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=name)
        perms = permission_model.objects.filter(content_type__app_label="payments", codename__in=codenames)
        group.permissions.add(*perms)


def ensure_groups_after_migrate(sender, **kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    ensure_groups(Group, Permission)


def can_request(request) -> bool:
    """Whether the signed-in person may request payouts (the admin's and the API's one question)."""
    return request.user.has_perm(REQUEST_PERMISSION)


def can_approve(request) -> bool:
    return request.user.has_perm(APPROVE_PERMISSION)
