"""What each alert says: a text rendered from `templates/notifications/<alert>.txt`, and the same facts as an
ordered list for the {{1}}, {{2}}... of an approved WhatsApp template (docs/notifications.md lists the order).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from core.money import kes
from core.phone import is_full_msisdn
from notifications.models import Alert
from payments.models import AuditEvent, FloatBalance, Payment, Payout, PayoutKind

logger = logging.getLogger("notifications")

_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Message:
    alert: str
    body: str
    params: list[str]


def display_phone(phone: str) -> str:
    """A full MSISDN as +2547...; anything else (a masked C2B number) as Daraja gave it."""
    if not phone:
        return "-"
    return f"+{phone}" if is_full_msisdn(phone) else phone


def local_time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return timezone.localtime(value).strftime("%d %b %Y %H:%M")


def _admin_change_url(model: str, pk: int) -> str:
    base = (getattr(settings, "ADMIN_BASE_URL", "") or settings.CALLBACK_BASE_URL).rstrip("/")
    try:
        path = reverse(f"admin:payments_{model}_change", args=[pk])
    except NoReverseMatch:
        # That admin is not registered: Django's admin URLs have this shape.
        path = f"/admin/payments/{model}/{pk}/change/"
    return base + path


def admin_payout_url(payout_id: int) -> str:
    return _admin_change_url("payout", payout_id)


def admin_batch_url(batch_id: int) -> str:
    return _admin_change_url("payoutbatch", batch_id)


def _display_user(user) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else "system"


def result_code_info(code: str, description: str, namespace: str | None = None) -> dict[str, str]:
    """The catalogue's reading of a result code (in `namespace`'s table when known: a synchronous "1" is not
    a B2C "1"); the payout's own description when there is no catalogue."""
    try:
        from daraja.result_codes import lookup
    except ImportError:
        lookup = None
    meaning, admin_message, action = description or "", "", ""
    if lookup is not None and code:
        try:
            info = lookup(code, namespace or None)
        except Exception:  # noqa: BLE001 - a catalogue bug must not lose the alert
            logger.exception("result code lookup failed for %s", code)
        else:
            if info.meaning and info.meaning != "Unknown code":
                meaning = info.meaning
            admin_message, action = info.admin_message or "", info.action or ""
    return {"meaning": meaning or "No description", "admin_message": admin_message, "action": action}


def render(alert: str, context: dict[str, Any], template: str = "") -> str:
    text = render_to_string(f"notifications/{template or alert}.txt", context)
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _message(alert: str, context: dict[str, Any], params: list[Any], template: str = "") -> Message:
    values = [str(value) if value not in (None, "") else "-" for value in params]
    return Message(alert=alert, body=render(alert, context, template), params=values)


def _payout_context(payout: Payout) -> dict[str, Any]:
    is_refund = payout.kind == PayoutKind.REFUND
    return {
        "payout": payout,
        "kind_label": "Refund" if is_refund else "Payout",
        "is_refund": is_refund,
        "amount": kes(payout.amount),
        "phone": display_phone(payout.phone),
        "recipient": payout.receiver_name or payout.recipient_name or display_phone(payout.phone),
        "payment_receipt": payout.payment.receipt if is_refund and payout.payment_id else "",
        "link": admin_payout_url(payout.pk),
    }


# --- Admin alerts -----------------------------------------------------------------------------------


def payment_received(payment: Payment) -> Message:
    reference = payment.account_reference or payment.description or "-"
    context = {
        "payment": payment,
        "amount": kes(payment.amount),
        "receipt": payment.receipt or "-",
        "customer": display_phone(payment.phone),
        "payer_name": payment.payer_name,
        "reference": reference,
        "source": payment.get_source_display(),
        "time": local_time(payment.transaction_time or payment.created_at),
    }
    params = [context["amount"], context["receipt"], context["customer"], reference]
    return _message(Alert.PAYMENT_RECEIVED, context, params)


def approval_requested(payout: Payout, event: AuditEvent) -> Message:
    requester = event.actor or payout.requested_by
    context = {
        **_payout_context(payout),
        "requested_by": _display_user(requester),
        "reason": payout.reason or payout.remarks or "-",
        "phone_differs": payout.phone_differs_from_payment,
        "approvals_needed": payout.required_approvals,
    }
    params = [
        context["kind_label"],
        payout.pk,
        context["requested_by"],
        context["amount"],
        context["phone"],
        context["reason"],
        context["link"],
    ]
    return _message(Alert.APPROVAL_REQUESTED, context, params)


def approval_requested_batch(payout: Payout, event: AuditEvent) -> Message:
    """One message for a whole CSV upload, not one per row (the batch's other payouts are still being
    created in the same transaction, so it names the batch rather than counting it)."""
    batch = payout.batch
    plan_run = getattr(batch, "plan_run", None)
    context = {
        "batch": batch,
        # A payout plan's run (payments/plans/runs.py): the recipients it skipped, and why.
        "plan_run": plan_run,
        "skipped": batch.refused_rows if plan_run is not None else [],
        "requested_by": _display_user(event.actor or batch.uploaded_by),
        "link": admin_batch_url(batch.pk),
    }
    params = ["Bulk payout batch", batch.pk, context["requested_by"], "-", "-", batch.name, context["link"]]
    return _message(Alert.APPROVAL_REQUESTED, context, params, template="approval_requested_batch")


def payout_completed(payout: Payout) -> Message:
    context = {**_payout_context(payout), "receipt": payout.transaction_id or "-"}
    params = [payout.pk, context["receipt"], context["amount"], context["recipient"], context["phone"]]
    return _message(Alert.PAYOUT_COMPLETED, context, params)


def payout_failed(payout: Payout, namespace: str | None = None, event: AuditEvent | None = None) -> Message:
    code = payout.result_code or "-"
    info = result_code_info(payout.result_code, payout.result_description, namespace)
    context = {
        **_payout_context(payout),
        "code": code,
        "description": payout.result_description,
        **info,
        # The catalogue's words for an operator first, its technical meaning otherwise.
        "plain_meaning": info["admin_message"] or info["meaning"],
        "next_step": info["action"] or "Check the payout in the admin before requesting it again.",
    }
    review_note = (event.details or {}).get("note") if event is not None and event.action == "reviewed" else ""
    if review_note:
        # A person settled it from the M-Pesa portal: there is no result code, and their note is the reason.
        context["reviewed"] = {"by": _display_user(event.actor), "note": review_note}
        context["plain_meaning"] = f"marked failed on review by {context['reviewed']['by']}: {review_note}"
        context["next_step"] = "Fix what the note names, then Request again from the payout's page."
    params = [payout.pk, context["amount"], context["phone"], code, context["plain_meaning"], context["next_step"]]
    return _message(Alert.PAYOUT_FAILED, context, params)


def payout_needs_review(payout: Payout) -> Message:
    context = {**_payout_context(payout), "why": payout.review_reason or "No reason recorded"}
    params = [payout.pk, context["amount"], context["phone"], context["why"], context["link"]]
    return _message(Alert.PAYOUT_NEEDS_REVIEW, context, params)


def low_balance(balance: FloatBalance, threshold: Decimal) -> Message:
    context = {
        "balance": kes(balance.utility_available),
        "threshold": kes(threshold),
        "observed": local_time(balance.observed_at),
        "source": balance.get_source_display(),
    }
    params = [context["balance"], context["threshold"], context["observed"]]
    return _message(Alert.LOW_BALANCE, context, params)


def float_drift(check) -> Message:
    """`check`: a ledger.models.FloatCheck that drifted beyond FLOAT_DRIFT_ALERT_KES."""
    context = {
        "reported": kes(check.reported),
        "ledger": kes(check.ledger_balance),
        "in_flight": kes(check.in_flight),
        "drift": kes(check.drift),
        "observed": local_time(check.observed_at),
        "cause": check.likely_cause,
    }
    params = [context["reported"], context["ledger"], context["drift"], context["cause"]]
    return _message(Alert.FLOAT_DRIFT, context, params)


def payout_in_flight_long(payout: Payout, since: datetime, hours: int) -> Message:
    context = {**_payout_context(payout), "since": local_time(since), "hours": hours, "status": payout.status}
    params = [payout.pk, context["amount"], context["status"], context["since"], context["link"]]
    return _message(Alert.PAYOUT_IN_FLIGHT_LONG, context, params)


def callbacks_rejected(*, count: int, window_minutes: int, threshold: int, sources: list, reasons: list) -> Message:
    context = {
        "count": count,
        "window_minutes": window_minutes,
        "threshold": threshold,
        "sources": sources,
        "reasons": reasons,
    }
    top = ", ".join(f"{ip} ({n})" for ip, n in sources[:3]) or "-"
    return _message(Alert.CALLBACKS_REJECTED, context, [count, window_minutes, top])


def callback_error(callback) -> Message:
    context = {
        "callback": callback,
        "kind": callback.get_kind_display(),
        "error": callback.error or "-",
        "link": _admin_change_url("darajacallback", callback.pk),
    }
    return _message(Alert.CALLBACK_ERROR, context, [callback.pk, context["kind"], context["error"]])


def operator_down(credential_set) -> Message:
    context = {
        "name": credential_set.name,
        "reason": credential_set.operator_down_reason,
        "since": local_time(credential_set.operator_down_since),
    }
    return _message(Alert.OPERATOR_DOWN, context, [context["name"], context["reason"], context["since"]])


def second_factor_changed(event: AuditEvent) -> Message:
    details = event.details or {}
    context = {
        "added": event.action == "second_factor_device_added",
        "user": details.get("user") or "-",
        "device": details.get("device") or "device",
        "by": _display_user(event.actor),
        "by_owner": details.get("by_owner", False),
        "time": local_time(event.created_at),
    }
    params = [context["user"], "added" if context["added"] else "removed", context["device"], context["by"],
              context["time"]]
    return _message(Alert.SECOND_FACTOR_CHANGED, context, params)


def daily_summary(stats: dict[str, Any]) -> Message:
    context = {
        **stats,
        "payments_total": kes(stats["payments_total"]),
        "payouts_total": kes(stats["payouts_total"]),
        "float_balance": kes(stats["float_balance"]) if stats.get("float_balance") is not None else "",
        "float_observed": local_time(stats.get("float_observed")),
        "period_start": local_time(stats["since"]),
        "period_end": local_time(stats["until"]),
    }
    params = [
        context["day"],
        stats["payments_count"],
        context["payments_total"],
        stats["payouts_count"],
        context["payouts_total"],
        stats["failed_count"],
        stats["open_count"],
    ]
    return _message(Alert.DAILY_SUMMARY, context, params)


# --- Customer alerts (NOTIFY_CUSTOMERS) -----------------------------------------------------------


def customer_refund_approved(payout: Payout) -> Message:
    context = _payout_context(payout)
    params = [context["amount"], context["payment_receipt"] or "-"]
    return _message(Alert.CUSTOMER_REFUND_APPROVED, context, params)


def customer_refund_paid(payout: Payout) -> Message:
    context = {**_payout_context(payout), "receipt": payout.transaction_id or "-"}
    params = [context["amount"], context["receipt"], context["payment_receipt"] or "-"]
    return _message(Alert.CUSTOMER_REFUND_PAID, context, params)
