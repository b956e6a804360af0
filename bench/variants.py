#!/usr/bin/env python
"""The variants bench/README.md's session 7 compared with the code they were cut from (commit 7a181b4): each
changes one thing in a worktree, so an alternating run (bench/alternate.sh) says what that thing is worth.

    git worktree add --detach /tmp/v_orm 7a181b4 && ln -s "$PWD/.venv" /tmp/v_orm/.venv
    .venv/bin/python bench/variants.py orm /tmp/v_orm

- nopost:  the lifecycle skips the ledger's posting (what the posting costs);
- unfused: dispatch._send_checks as three statements (approvals through the ORM, the limits' statement, the
           credential set through the ORM) instead of one;
- orm:     rows.insert_row / rows.update_row and lifecycle.payout_lock through the ORM (save(),
           filter().update(), select_for_update().annotate(Exists(...)));
- webhooks_orm: (session 10) the webhooks' event data and event-with-deliveries INSERT through the ORM, as on
           SQLite, instead of webhooks/event_sql.py's two statements;
- atomic:  the notification receivers in transaction.atomic() instead of a savepoint left for the COMMIT
           (what the product does since cd70b72).
Each edit replaces an exact piece of the code; on code that has moved on, it stops with the piece it missed.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _replace(root: Path, relative: str, pairs: list[tuple[str, str]]) -> None:
    path = root / relative
    text = path.read_text()
    for old, new in pairs:
        if old not in text:
            sys.exit(f"{relative}: not found (the code has moved on):\n{old[:200]}")
        text = text.replace(old, new, 1)
    path.write_text(text)


def _between(root: Path, relative: str, start: str, end: str, new: str) -> None:
    text = (root / relative).read_text()
    if start not in text or end not in text:
        sys.exit(f"{relative}: {start!r} or {end!r} not found (the code has moved on)")
    first = text.index(start)
    _replace(root, relative, [(text[first : text.index(end, first)], new)])


def nopost(root: Path) -> None:
    _replace(root, "payments/payouts/lifecycle.py", [(
        "        payout_status_posted(payout=payout, old_status=old_status, event=event)\n",
        "        pass  # bench variant: no ledger posting\n",
    )])


def unfused(root: Path) -> None:
    _between(root, "payments/payouts/dispatch.py", "def _send_checks(payout: Payout) -> _SendChecks:",
             "# Any fixed number: the key of the transaction-scoped advisory lock",
             '''def _send_checks(payout: Payout) -> _SendChecks:
    editors = PayoutEditor.objects.filter(payout_id=payout.pk, changed_bound=True).values("user_id")
    counts = PayoutApproval.objects.filter(payout_id=payout.pk, voided_at__isnull=True).aggregate(
        active=Count("pk"),
        bound=Count("pk", filter=Q(amount=payout.amount, phone=payout.phone, command_id=payout.command_id)),
        interested=Count("pk", filter=Q(approver_id=payout.requested_by_id) | Q(approver_id__in=editors)),
    )
    return _SendChecks(
        approvals_bound=counts["active"] > 0 and counts["bound"] == counts["active"],
        approvals_by_interested=counts["interested"],
        hold_reason=send_hold_reason(payout),
        stored_credentials=active_credential_row(),
    )


''')
    _replace(root, "payments/payouts/dispatch.py", [
        ("from payments.field_encryption import active_set_sql, stored_row",
         "from payments.field_encryption import active_credential_row"),
        ("from payments.payouts.limits import hold_reason_from, send_figures_from, send_figures_sql",
         "from payments.payouts.limits import send_hold_reason"),
        ("from django.db.models import F, Q", "from django.db.models import Count, F, Q"),
    ])


def orm(root: Path) -> None:
    _between(root, "core/sql_row_writes.py", "def insert_row(obj: models.Model", "@lru_cache(maxsize=32)\ndef _loader(",
             '''def insert_row(obj: models.Model, *, computed: dict | None = None) -> models.Model:
    for name, (expression, params) in (computed or {}).items():
        with connection.cursor() as cursor:  # the token lookup, as a query of its own
            cursor.execute(f"SELECT {expression}", params)
            setattr(obj, type(obj)._meta.get_field(name).attname, cursor.fetchone()[0])
    obj.save(force_insert=True)
    return obj


def update_row(obj: models.Model, names: Sequence[str], *, where: dict | None = None) -> bool:
    model = type(obj)
    values = {name: getattr(obj, model._meta.get_field(name).attname) for name in names}
    matched = model._default_manager.filter(pk=obj.pk, **(where or {})).update(**values) == 1
    if not matched and not where:
        raise DatabaseError(f"{model.__name__} #{obj.pk} was not updated (no such row).")
    return matched


''')
    _between(root, "payments/payouts/lifecycle.py",
             "    sql, params = _lock_sql(bool(receipt)), ([receipt, payout_id] if receipt else [payout_id])",
             "@lru_cache(maxsize=2)\ndef _lock_sql(", '''    from django.db.models import Exists, OuterRef

    query = Payout.objects.select_for_update(of=("self",)).filter(pk=payout_id)
    if receipt:
        query = query.annotate(receipt_elsewhere=Exists(
            Payout.objects.filter(transaction_id=receipt).exclude(pk=OuterRef("pk"))))
    payout = query.first()
    if payout is None:
        raise NotFound(f"No payout #{payout_id}.")
    payout.receipt_checked = receipt
    if not receipt:
        payout.receipt_elsewhere = False
    return payout


''')


def atomic(root: Path) -> None:
    _between(root, "notifications/receivers.py",
             "    @wraps(func)\n    def wrapper(*args, **kwargs):\n        connection = transaction.get_connection()",
             "    return wrapper\n", '''    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with transaction.atomic():
                func(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the caller's work matters more than its notification
            logger.exception("could not record notifications in %s; the event itself is unaffected", func.__name__)

''')


def webhooks_orm(root: Path) -> None:
    """The webhooks' two SQL paths (webhooks/event_sql.py) left for the ORM paths beside them."""
    _replace(root, "webhooks/representation.py", [(
        'if connection.vendor != "postgresql" or _has_expressions(payout):',
        "if True:  # bench variant: payout_detail() through the ORM",
    )])
    _replace(root, "webhooks/services/events.py", [(
        'if connection.vendor == "postgresql":\n        ids = event_with_deliveries_insert',
        "if False:  # bench variant: save(), the endpoints, bulk_create()\n        ids = event_with_deliveries_insert",
    )])


VARIANTS = {"nopost": nopost, "unfused": unfused, "orm": orm, "atomic": atomic, "webhooks_orm": webhooks_orm}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in VARIANTS:
        sys.exit(f"usage: bench/variants.py {{{'|'.join(VARIANTS)}}} WORKTREE")
    VARIANTS[sys.argv[1]](Path(sys.argv[2]))
