"""Operator credential health (docs/operator-health.md).

Results and synchronous answers that mean M-Pesa refused the API operator or its credential count against
the credential set that sent the payout (`Payout.sent_with`, set at the claim). Two in a row mark the set
`down`: the send-time checks then hold every approved payout with OPERATOR_DOWN_HOLD (nothing goes on the
wire), approvers and admins are alerted once, and the overview and `GET /api/dashboard/` show it. A success
result from the set resets the run. A superuser reinstates the set (second factor asked by the caller): a
balance query is sent with the set's credentials as a probe, and the set is up again only when Daraja accepts
it. The failed payouts are requested again, each a new payout under the usual approvals.

Payouts sent with the environment's credentials (no set active) are not counted: there is nothing to mark.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.errors import InvalidState, NotFound, PermissionDenied
from core.field_widths import truncate_to
from daraja.errors import DarajaError
from daraja.result_codes import Namespace
from mpesa_payouts.effects import after_commit
from payments.audit_events import event_record
from payments.callbacks.tokens import static_url
from payments.daraja_client import daraja_client
from payments.field_encryption import STORED_COLUMNS
from payments.models import AuditAction, DarajaCredentialSet, EventSource, Payout, PayoutStatus
from payments.signals import operator_down

OPERATOR_DOWN_HOLD = "M-Pesa refused the operator credentials"
REFUSALS_TO_DOWN = 2

# Result codes (of a B2C or B2B result) that mean the initiator or its SecurityCredential was refused.
RESULT_REFUSALS = frozenset({"2001", "8006", "21", "TP40153"})
# Only on B2C: SFC_IC0003 ("the initiator is not allowed") on other APIs means something else.
B2C_ONLY_REFUSALS = frozenset({"SFC_IC0003"})
# The synchronous answer's code: the merchant / credential lock.
SYNC_REFUSALS = frozenset({"500.001.1001"})
ALL_REFUSAL_CODES = RESULT_REFUSALS | B2C_ONLY_REFUSALS | SYNC_REFUSALS


def is_operator_refusal(code: str, namespace: str) -> bool:
    """Whether this code, read in this catalogue table (a result's namespace, or "sync"), refuses the operator."""
    if namespace == "sync":
        return code in SYNC_REFUSALS
    return code in RESULT_REFUSALS or (namespace == Namespace.B2C and code in B2C_ONLY_REFUSALS)


@dataclass(frozen=True)
class OperatorState:
    state: str  # "up" | "down"
    since: datetime | None
    reason: str
    credential_set: str | None
    # Why a reinstatement's probe was refused (Daraja's code and words, which never carry a secret), for the
    # console's answer; not part of `as_dict`.
    probe_refusal: str = ""

    def as_dict(self) -> dict:
        return {"state": self.state, "since": self.since.isoformat() if self.since else None,
                "reason": self.reason, "credential_set": self.credential_set}


def operator_state() -> OperatorState:
    """The active set's state (a set that is down but no longer active is not what sends)."""
    row = (DarajaCredentialSet.objects.filter(active=True)
           .values_list("name", "operator_down_since", "operator_down_reason").first())
    if row is None:
        return OperatorState("up", None, "", None)
    name, since, reason = row
    return OperatorState("down" if since else "up", since, reason, name)


def operator_hold_reason(down_since) -> str:
    """The hold reason of a payout about to be claimed, given the active set's `operator_down_since`."""
    return OPERATOR_DOWN_HOLD if down_since is not None else ""


# --- Counting -----------------------------------------------------------------------------------------


def operator_answer_record(*, set_id: int | None, code: str, namespace: str, succeeded: bool,
                           payout: Payout, source: str) -> None:
    """Count one answer for the set that sent `payout`, inside the caller's transaction (the payout's row
    lock is held: the set's lock is always taken after it). A success resets a run that has not yet put the
    set down; a refusal adds to it, and the second in a row marks the set down."""
    if set_id is None:
        return
    if succeeded:
        DarajaCredentialSet.objects.filter(
            pk=set_id, operator_refusals__gt=0, operator_down_since__isnull=True
        ).update(operator_refusals=0)
        return
    if not is_operator_refusal(code, namespace):
        return
    credential_set = DarajaCredentialSet.objects.select_for_update().filter(pk=set_id).first()
    if credential_set is None:
        return
    credential_set.operator_refusals += 1
    fields = ["operator_refusals"]
    details = {"credential_set": credential_set.name, "code": code, "in_a_row": credential_set.operator_refusals}
    event_record(action=AuditAction.OPERATOR_REFUSED, source=source, payout=payout, details=details)
    went_down = (credential_set.operator_down_since is None
                 and credential_set.operator_refusals >= REFUSALS_TO_DOWN)
    if went_down:
        credential_set.operator_down_since = timezone.now()
        credential_set.operator_down_reason = truncate_to(
            DarajaCredentialSet, "operator_down_reason", f"{OPERATOR_DOWN_HOLD} (code {code})"
        )
        fields += ["operator_down_since", "operator_down_reason"]
        event_record(action=AuditAction.OPERATOR_DOWN, source=source, payout=payout, details=details)
    DarajaCredentialSet.objects.filter(pk=set_id).update(**{f: getattr(credential_set, f) for f in fields})
    if went_down:
        operator_down.send(sender=DarajaCredentialSet, credential_set=credential_set)


# --- Reinstating ----------------------------------------------------------------------------------------


def _superuser(actor) -> None:
    if not (actor is not None and actor.is_active and actor.is_superuser):
        raise PermissionDenied("Only a superuser may reinstate operator credentials or request their failed "
                               "payouts again.")


def _credential_set(set_id) -> DarajaCredentialSet:
    credential_set = DarajaCredentialSet.objects.filter(pk=set_id).first()
    if credential_set is None:
        raise NotFound(f"No credential set #{set_id}.")
    return credential_set


def operator_reinstate(*, set_id: int, actor, source: str = EventSource.API) -> OperatorState:
    """A superuser's reinstatement after fixing the set (new password, new SecurityCredential): a balance
    query with the set's credentials is the probe. Accepted: the set is up, its run of refusals cleared, and
    the payouts held for it are queued again. Refused: it stays down. Both are audit events."""
    _superuser(actor)
    credential_set = _credential_set(set_id)
    if credential_set.operator_down_since is None:
        raise InvalidState(f"Credential set {credential_set.name} is not down.")
    stored = tuple(getattr(credential_set, column) for column in STORED_COLUMNS)
    try:
        daraja_client(stored_credentials=stored).account_balance(
            result_url=static_url("balance-result"), timeout_url=static_url("balance-timeout")
        )
    except DarajaError as exc:
        event_record(action=AuditAction.OPERATOR_PROBE_REFUSED, source=source, actor=actor,
                     details={"credential_set": credential_set.name, "code": exc.code})
        return replace(operator_state(), probe_refusal=f"{exc.code}: {exc.message}")
    with transaction.atomic():
        DarajaCredentialSet.objects.filter(pk=set_id).update(
            operator_refusals=0, operator_down_since=None, operator_down_reason=""
        )
        event_record(action=AuditAction.OPERATOR_REINSTATED, source=source, actor=actor,
                     details={"credential_set": credential_set.name,
                              "down_since": credential_set.operator_down_since.isoformat()})
        held = list(Payout.objects.filter(status=PayoutStatus.APPROVED, hold_reason=OPERATOR_DOWN_HOLD)
                    .values_list("pk", flat=True))
        if held:
            from payments.payouts.services import queue_sends

            after_commit(lambda: queue_sends(held))
    return operator_state()


def operator_refused_payouts(set_id: int):
    """The failed payouts this set sent whose answer refused the operator, not yet requested again."""
    return (Payout.objects.filter(sent_with_id=set_id, status=PayoutStatus.FAILED,
                                  result_code__in=ALL_REFUSAL_CODES, retries__isnull=True)
            .order_by("pk"))


def operator_request_all_again(*, set_id: int, actor, source: str = EventSource.API) -> list[Payout]:
    """"Request all again": each refused payout of the set requested again, a new payout waiting for its
    approvals (payout_request_again); the failed ones are never sent again."""
    from payments.payouts.services import payout_request_again

    _superuser(actor)
    _credential_set(set_id)
    ids = list(operator_refused_payouts(set_id).values_list("pk", flat=True))
    return [payout_request_again(payout_id=pk, requested_by=actor, source=source) for pk in ids]
