"""Sending payouts exactly once, and finding out what happened to the ones whose outcome is unknown.

The send claims the payout by a conditional update (`approved` -> `sending`) committed before the request
leaves, so a second delivery of the task, a second worker, or a crash and redelivery finds it no longer
`approved` and does nothing. After the claim, only an answer that proves M-Pesa did not receive the
request returns it to `approved` for another try; anything else that is not an acceptance is `verifying`,
settled by a Transaction Status query. No path here resends a B2C request whose outcome is unknown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.field_widths import truncate_to
from core.phone import mask_msisdn
from daraja.errors import DarajaError, DarajaNotSent, DarajaOutcomeUnknown
from payments.audit_events import event_record
from payments.callbacks.tokens import payout_urls, static_url
from payments.daraja_client import daraja_client
from payments.field_encryption import active_set_sql, credential_row, stored_row
from payments.models import (
    IN_FLIGHT_STATUSES,
    NO_CALLER_ID_RAILS,
    AuditAction,
    CallbackKind,
    CallbackOutcome,
    DarajaCallback,
    EventSource,
    Payout,
    PayoutApproval,
    PayoutStatus,
)
from payments.payouts.four_eyes import interested_approvals_sql, void_interested_approvals
from payments.payouts.lifecycle import payout_lock, payout_transition
from payments.payouts.limits import hold_reason_from, retry_hold_reason, send_figures_from, send_figures_sql
from payments.payouts.operator_health import operator_answer_record, operator_hold_reason
from payments.payouts.outcomes import QueryOutcome, SendOutcome
from payments.payouts.sending import Accepted, can_send, rail_request, sent_from
from payments.payouts.services import APPROVE_PERMISSION, REQUEST_PERMISSION

logger = logging.getLogger(__name__)

SOURCE = EventSource.TASK
MAX_SEND_ATTEMPTS = 5


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    retry_in: int | None = None


@dataclass(frozen=True)
class _SendChecks:
    approvals_bound: bool
    # Active approvals given by the payout's requester or by someone who changed what is paid (four eyes).
    approvals_by_interested: int
    hold_reason: str
    stored_credentials: tuple | None  # the active credential set as stored, for daraja_client()


def _send_checks(payout: Payout) -> _SendChecks:
    """Everything the claim decides on, in one statement run after the row lock is taken (so it reads what
    was committed before the lock was granted): the payout's active approvals and whether each is bound to
    its amount, payee (phone, or business number and account) and CommandID, and how many were given by
    its requester or by someone who changed its
    amount, phone or CommandID (the services and the database refuse those; this is the last line); the kill
    switch, today's sent totals and the float (limits.py); and the
    active Daraja credential set as stored, which tells daraja_client() whether its configuration is current.
    One statement rather than three (two of them through the ORM): a hand-written SQL path, listed in
    docs/architecture.md with what it earns (bench/README.md, session 7)."""
    qn = connection.ops.quote_name
    approvals = qn(PayoutApproval._meta.db_table)
    active = f"FROM {approvals} WHERE payout_id = %s AND voided_at IS NULL"
    interested_column, interested_params = interested_approvals_sql(payout, active)
    approval_columns = [
        f"(SELECT COUNT(*) {active})",
        f"(SELECT COUNT(*) {active} AND amount = %s AND phone = %s AND command_id = %s AND party_b = %s"
        " AND account_reference = %s)",
        interested_column,
    ]
    approval_params = [
        payout.pk,
        payout.pk, connection.ops.adapt_decimalfield_value(payout.amount), payout.phone, payout.command_id,
        payout.party_b, payout.account_reference,
        *interested_params,
    ]
    limit_columns, limit_params = send_figures_sql(payout)
    join, credential_columns = active_set_sql()
    # Last: whether M-Pesa refused the active set's operator (operator_health.py).
    credential_columns = [*credential_columns, "credentials.operator_down_since"]
    sql = f"SELECT {', '.join([*approval_columns, *limit_columns, *credential_columns])} FROM (SELECT 1) one{join}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*approval_params, *limit_params])
        row = cursor.fetchone()
    active_count, bound_count, interested_count = row[0], row[1], row[2]
    at = len(approval_columns)
    figures = send_figures_from(row[at : at + len(limit_columns)])
    return _SendChecks(
        approvals_bound=active_count > 0 and bound_count == active_count,
        approvals_by_interested=interested_count,
        hold_reason=operator_hold_reason(row[-1]) or hold_reason_from(payout, figures),
        stored_credentials=stored_row(row[at + len(limit_columns) : -1]),
    )


# Any fixed number: the key of the transaction-scoped advisory lock that makes limit checks one at a time.
_LIMITS_LOCK_KEY = 0x4D504553  # "MPES"


def _one_claim_at_a_time() -> None:
    """Two claims at the same instant would each sum today's sent payouts without the other's uncommitted
    claim, and together pass a daily limit that either alone respects. On PostgreSQL the checks and the claim
    run under one advisory lock held until the claim commits (milliseconds), so the second claim's checks see
    the first. (SQLite, for `make run`, serialises writing transactions itself.)"""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LIMITS_LOCK_KEY])


def _claim(payout_id: int) -> tuple[Payout, _SendChecks] | SendResult:
    with transaction.atomic():
        payout = payout_lock(payout_id=payout_id)
        if payout.status != PayoutStatus.APPROVED:
            return SendResult(SendOutcome.SKIPPED)
        if not can_send(payout.rail):
            # A rail with no sender in this version: it waits, approved, and is never claimed.
            logger.warning("payout %s: no sender for rail %s; left approved", payout.pk, payout.rail)
            return SendResult(SendOutcome.SKIPPED)
        if _hold_retry_of_paid(payout):
            return SendResult(SendOutcome.HELD)
        _one_claim_at_a_time()
        checks = _send_checks(payout)
        if checks.approvals_by_interested:
            # An approval by its requester or by someone who changed what is paid does not count: it is
            # voided and the payout waits for other people's approval. Nothing is sent.
            void_interested_approvals(payout)
            payout_transition(
                locked=payout,
                to_status=PayoutStatus.PENDING_APPROVAL,
                action=AuditAction.APPROVAL_VOIDED,
                source=SOURCE,
                details={"reason": "approved by its requester or by someone who changed its amount, phone or "
                                   "CommandID"},
                fields={"approved_at": None},
            )
            return SendResult(SendOutcome.SKIPPED)
        if not checks.approvals_bound:
            # Every active approval must be for exactly what is about to be sent.
            payout_transition(
                locked=payout,
                to_status=PayoutStatus.PENDING_APPROVAL,
                action=AuditAction.APPROVAL_VOIDED,
                source=SOURCE,
                details={"reason": "approvals do not match the payout"},
            )
            return SendResult(SendOutcome.SKIPPED)
        reason = checks.hold_reason
        if reason:
            if reason != payout.hold_reason:
                payout.hold_reason = reason
                payout.save(update_fields=["hold_reason", "updated_at"])
                event_record(action=AuditAction.HELD, source=SOURCE, payout=payout, from_status=payout.status,
                             to_status=payout.status, details={"reason": reason})
            return SendResult(SendOutcome.HELD)
        payout_transition(
            locked=payout,
            to_status=PayoutStatus.SENDING,
            action=AuditAction.SENDING,
            source=SOURCE,
            details={"attempt": payout.send_attempts + 1},
            fields={"hold_reason": "", "send_attempts": payout.send_attempts + 1,
                    "sent_with_id": checks.stored_credentials[0] if checks.stored_credentials else None},
        )
        return payout, checks


def _hold_retry_of_paid(payout: Payout) -> bool:
    """The last line against paying twice: a request again whose original M-Pesa has since reported paid
    stays `approved` with the reason, and is not sent. Its original is read, not locked: a success for the
    original locks the original and then its retries, so locking it here (after the retry) could deadlock."""
    if not payout.retry_of_id:
        return False
    original_status = Payout.objects.filter(pk=payout.retry_of_id).values_list("status", flat=True).first()
    reason = retry_hold_reason(original_id=payout.retry_of_id, original_status=original_status or "")
    if not reason:
        return False
    if reason != payout.hold_reason:
        payout.hold_reason = reason
        payout.save(update_fields=["hold_reason", "updated_at"])
        event_record(action=AuditAction.HELD, source=SOURCE, payout=payout, from_status=payout.status,
                     to_status=payout.status, details={"reason": reason})
    return True


def payout_send(*, payout_id: int) -> SendResult:
    claimed = _claim(payout_id)
    if isinstance(claimed, SendResult):
        return claimed
    payout, checks = claimed
    try:
        accepted = rail_request(daraja_client(stored_credentials=checks.stored_credentials), payout)
    except DarajaNotSent as exc:
        return _not_sent(payout, exc)
    except DarajaOutcomeUnknown as exc:
        _unknown(payout, code=exc.code, message=exc.message)
        return SendResult(SendOutcome.VERIFYING)
    except Exception as exc:  # noqa: BLE001 - we cannot know whether it left: find out, never resend
        logger.exception("unexpected error sending payout %s", payout.pk)
        _unknown(payout, code="internal_error", message=exc.__class__.__name__)
        return SendResult(SendOutcome.VERIFYING)

    ids = _answer_ids(accepted)
    moved = _submitted(payout, ids)
    if moved is None:
        # The result callback beat us: keep the ids of the answer and the time it left.
        for column, value in ids.items():
            Payout.objects.filter(pk=payout.pk, **{column: ""}).update(**{column: value})
        Payout.objects.filter(pk=payout.pk, submitted_at__isnull=True).update(submitted_at=timezone.now())
    logger.info("payout %s submitted rail=%s payee=%s conversation=%s", payout.pk, payout.rail,
                mask_msisdn(payout.phone) if payout.phone else payout.party_b, accepted.conversation_id)
    return SendResult(SendOutcome.SUBMITTED)


def _answer_ids(accepted: Accepted) -> dict[str, str]:
    """The ids of Daraja's synchronous answer, as the payout's columns (the OriginatorConversationID only for a
    rail whose request carried none of ours)."""
    ids = {"conversation_id": truncate_to(Payout, "conversation_id", accepted.conversation_id)}
    if accepted.answered_originator_conversation_id:
        ids["answered_originator_conversation_id"] = truncate_to(
            Payout, "answered_originator_conversation_id", accepted.answered_originator_conversation_id
        )
    return ids


def _submitted(payout: Payout, ids: dict[str, str]) -> Payout | None:
    """sending -> submitted by a conditional update (no locking SELECT first): the payout as it now is, or
    None when it is no longer `sending` (its result arrived first)."""
    return payout_transition(
        seen=payout,
        from_statuses=[PayoutStatus.SENDING],
        to_status=PayoutStatus.SUBMITTED,
        action=AuditAction.SUBMITTED,
        source=SOURCE,
        details=dict(ids),
        fields={**ids, "submitted_at": timezone.now()},
    )


def _not_sent(payout: Payout, exc: DarajaNotSent) -> SendResult:
    with transaction.atomic():
        operator_answer_record(set_id=payout.sent_with_id, code=exc.code, namespace="sync", succeeded=False,
                               payout=payout, source=SOURCE)
    if exc.retryable and payout.send_attempts < MAX_SEND_ATTEMPTS:
        payout_transition(
            payout_id=payout.pk,
            from_statuses=[PayoutStatus.SENDING],
            to_status=PayoutStatus.APPROVED,
            action=AuditAction.SEND_RETRY,
            source=SOURCE,
            details={"code": exc.code, "message": exc.message, "attempt": payout.send_attempts},
        )
        return SendResult(SendOutcome.RETRY, retry_in=min(300, 10 * 2 ** (payout.send_attempts - 1)))
    payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.SENDING],
        to_status=PayoutStatus.FAILED,
        action=AuditAction.FAILED,
        source=SOURCE,
        # A synchronous code: the alert reads it from the `sync` table, not as a B2C ResultCode.
        details={"code": exc.code, "message": exc.message, "namespace": "sync"},
        fields={
            "result_code": truncate_to(Payout, "result_code", exc.code),
            "result_description": truncate_to(Payout, "result_description", exc.message),
            "completed_at": timezone.now(),
        },
    )
    return SendResult(SendOutcome.FAILED)


def _unknown(payout: Payout, *, code: str, message: str) -> None:
    payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.SENDING],
        to_status=PayoutStatus.VERIFYING,
        action=AuditAction.OUTCOME_UNKNOWN,
        source=SOURCE,
        details={"code": code, "message": message},
    )


QUERYABLE = IN_FLIGHT_STATUSES


def _answers_without_outcome(payout: Payout) -> tuple[int, str]:
    """How many Transaction Status answers this still-unsettled payout received (each said neither completed
    nor failed: "not found", or the query itself failed), and what the last one said."""
    answers = DarajaCallback.objects.filter(
        payout_id=payout.pk, kind=CallbackKind.STATUS_RESULT, outcome=CallbackOutcome.PROCESSED
    )
    last = answers.order_by("-received_at", "-id").values_list("error", flat=True).first()
    return answers.count(), last or ""


def _hand_over_reason(queries: int, answered: int, last: str) -> str:
    """Why a person must look: no answer at all (Daraja silent: the payment may or may not exist) reads
    differently from answers that found no final outcome (often: M-Pesa has no such payment)."""
    if not answered:
        return f"No answer to {queries} Transaction Status queries; check the M-Pesa portal."
    return (
        f"{queries} Transaction Status queries, {answered} answered without a final outcome (last: {last}); "
        "check the M-Pesa portal."
    )


def payout_query_status(*, payout_id: int, source: str = SOURCE, force: bool = False, actor=None) -> QueryOutcome:
    """Ask Daraja what happened to a payout (by our OriginatorConversationID, or for a paybill, till, top-up or
    reversal by the one Daraja's answer gave), from the shortcode it was sent from (sending.sent_from) and with
    the credential set that sent it (`sent_with`; none: the environment's). The answer arrives at the payout's
    status callback URL and settles it through the same code as a result. After PAYOUT_MAX_STATUS_QUERIES
    unanswered queries the payout goes to `needs_review`. A payout with no id to ask by (its answer was lost) is
    not queried: WAITING until PAYOUT_RESULT_DEADLINE_MINUTES, then NEEDS_REVIEW for a person to look it up
    (NO_ID when forced).

    `actor`: the person asking (an operator's "query status now"); they must be allowed to request or approve
    payouts, and the query's event names them. The sweep and commands ask as the system."""
    if actor is not None and not (
        actor.is_active and (actor.has_perm(REQUEST_PERMISSION) or actor.has_perm(APPROVE_PERMISSION))
    ):
        raise PermissionDenied("You do not have permission to query payouts' status.")
    allowed = QUERYABLE | ({PayoutStatus.NEEDS_REVIEW} if force else set())
    with transaction.atomic():
        payout = payout_lock(payout_id=payout_id)
        if payout.status not in allowed:
            return QueryOutcome.SKIPPED
        # A forced query (an operator's "query status now") does not count toward the hand-over to a person.
        if not force and payout.status_queries_sent >= settings.PAYOUT_MAX_STATUS_QUERIES:
            answered, last = _answers_without_outcome(payout)
            payout_transition(
                locked=payout,
                to_status=PayoutStatus.NEEDS_REVIEW,
                action=AuditAction.UNANSWERED,
                source=source,
                details={"status_queries": payout.status_queries_sent, "answered": answered,
                         "last_answer": last},
                fields={"review_reason": _hand_over_reason(payout.status_queries_sent, answered, last)},
            )
            return QueryOutcome.NEEDS_REVIEW
        asked_by = _id_to_ask_by(payout)
        if not asked_by and not payout.transaction_id:
            return QueryOutcome.NO_ID if force else _no_id_to_ask_by(payout, source=source)
        Payout.objects.filter(pk=payout.pk).update(
            status_queries_sent=F("status_queries_sent") + 1, last_status_query_at=timezone.now()
        )
        event_record(action=AuditAction.STATUS_QUERY, source=source, payout=payout, actor=actor,
                     from_status=payout.status, to_status=payout.status,
                     details={"query": payout.status_queries_sent + 1})
    urls = payout_urls(payout.callback_token)
    try:
        # Asked as it was sent: with the credential set that sent it, from the shortcode it left.
        client = daraja_client(stored_credentials=credential_row(payout.sent_with_id))
        origin = sent_from(client.config, payout)
        client.transaction_status(
            original_conversation_id=asked_by,
            transaction_id=payout.transaction_id or "",
            result_url=urls["status-result"],
            timeout_url=urls["status-timeout"],
            party_a=origin.shortcode,
            product=origin.product,
        )
    except DarajaError as exc:
        logger.warning("status query for payout %s failed: %s %s", payout.pk, exc.code, exc.message)
        return QueryOutcome.ERROR
    return QueryOutcome.QUERIED


def _id_to_ask_by(payout: Payout) -> str:
    """The OriginatorConversationID a Transaction Status query names: our own, or, for a rail whose request
    carried none of ours, the one Daraja's answer gave ("" when that answer was lost)."""
    if payout.rail in NO_CALLER_ID_RAILS:
        return payout.answered_originator_conversation_id
    return payout.originator_conversation_id


NO_ID_REVIEW_REASON = (
    "Daraja's answer to the request was lost and no result arrived within {minutes} minutes: there is no id to "
    "ask M-Pesa by. Look the payment up in the M-Pesa org portal (the paying shortcode's transactions, by "
    "amount, receiver and time) and record what you find. It is not sent again."
)


def _no_id_to_ask_by(payout: Payout, *, source: str) -> QueryOutcome:
    """A paybill, till or top-up whose synchronous answer was lost: nothing to query by. The result callback
    (bound by its URL's token) may still settle it; after PAYOUT_RESULT_DEADLINE_MINUTES a person looks."""
    minutes = settings.PAYOUT_RESULT_DEADLINE_MINUTES
    if payout.status_changed_at > timezone.now() - timedelta(minutes=minutes):
        return QueryOutcome.WAITING
    reason = NO_ID_REVIEW_REASON.format(minutes=minutes)
    payout_transition(
        locked=payout,
        to_status=PayoutStatus.NEEDS_REVIEW,
        action=AuditAction.UNANSWERED,
        source=source,
        details={"status_queries": payout.status_queries_sent, "no_id_to_ask_by": True},
        fields={"review_reason": reason},
    )
    return QueryOutcome.NEEDS_REVIEW


def payouts_due_for_status_query():
    """Payouts whose outcome we should ask about now."""
    now = timezone.now()
    deadline = now - timedelta(minutes=settings.PAYOUT_RESULT_DEADLINE_MINUTES)
    interval = now - timedelta(minutes=settings.PAYOUT_STATUS_QUERY_INTERVAL_MINUTES)
    stale = Q(status__in=[PayoutStatus.SENDING, PayoutStatus.SUBMITTED], status_changed_at__lte=deadline)
    unknown = Q(status=PayoutStatus.VERIFYING)
    not_recently = Q(last_status_query_at__isnull=True) | Q(last_status_query_at__lte=interval)
    return Payout.objects.filter((stale | unknown) & not_recently).values_list("pk", flat=True)


def payouts_lost_in_queue(*, older_than_seconds: int = 60):
    """Approved payouts whose send task may have been lost (broker down at approval time), and scheduled ones
    whose `send_after` has come: not those still waiting for theirs."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    return Payout.objects.filter(status=PayoutStatus.APPROVED, status_changed_at__lte=cutoff).exclude(
        send_after__gt=now
    ).values_list("pk", flat=True)


def account_balance_query() -> QueryOutcome:
    try:
        daraja_client().account_balance(
            result_url=static_url("balance-result"), timeout_url=static_url("balance-timeout")
        )
    except DarajaError as exc:
        logger.warning("account balance query failed: %s %s", exc.code, exc.message)
        return QueryOutcome.ERROR
    return QueryOutcome.QUERIED


