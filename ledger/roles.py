"""The ledger's permissions for the two payout roles: both may read it; a requester may ask for a top-up or an
opening balance, an approver may approve one (never their own: the database refuses it too), and accept what
a statement someone else uploaded proposes."""

from __future__ import annotations

from payments.roles import APPROVERS, REQUESTERS

READ = ["view_account", "view_journaltransaction", "view_entry", "view_fundingrequest", "view_floatcheck",
        "view_statementproposal"]
GROUP_PERMISSIONS = {
    REQUESTERS: [*READ, "add_fundingrequest"],
    APPROVERS: [*READ, "approve_fundingrequest", "accept_statementproposal"],
}


def ensure_ledger_permissions_after_migrate(sender, **kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    for name, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="ledger", codename__in=codenames))
