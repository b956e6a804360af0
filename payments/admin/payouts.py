"""The payouts console: the list operators work from, the four-eyes decisions, edits, bulk uploads.

Nothing here writes a Payout: every change goes through payments.services (payouts, dispatch, bulk), which
enforce the rules (no self-approval, superusers included), lock rows and write the audit events. The change
page is read-only; editing is a separate form that calls payout_update, so an approval can never survive a
change of amount, phone or CommandID.
"""

from __future__ import annotations

import io
import secrets
from pathlib import PurePath

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from payments.admin.common import (
    FastListMixin,
    RowResult,
    badge,
    describe_details,
    kes,
    link_to,
    mask_tokens,
    refused,
    report_rows,
    safe_next,
    table,
    time_since,
    warning_box,
    when,
)
from payments.admin.overview import AwaitingMyApprovalFilter
from payments.daraja import result_codes
from payments.errors import PayoutError
from payments.forms import (
    BulkUploadForm,
    DisbursementForm,
    PayoutEditForm,
    RejectForm,
    ReviewForm,
    add_service_error,
)
from payments.models import (
    FINAL_STATUSES,
    DarajaCallback,
    EventSource,
    Payment,
    Payout,
    PayoutApproval,
    PayoutBatch,
    PayoutControl,
    PayoutEditor,
    PayoutKind,
    PayoutStatus,
)
from payments.phone import InvalidPhoneNumber, mask_msisdn, normalize_msisdn
from payments.roles import can_approve, can_request
from payments.services import bulk, dispatch
from payments.services import payouts as payout_services
from payments.services.limits import payouts_paused, required_approvals

ADMIN = EventSource.ADMIN
# The most payouts one decision page handles (a CSV batch is at most 1,000 rows).
MAX_PER_DECISION = 1000
QUERYABLE_FROM_ADMIN = (PayoutStatus.VERIFYING, PayoutStatus.NEEDS_REVIEW)


UPLOADS_KEY = "payments.bulk_uploads"
SESSION_UPLOADS = 3
ROW_REPORT_MAX = 20


class NamedText(io.StringIO):
    """The stored text of an upload, read as the uploaded file was (with its name)."""

    def __init__(self, text: str, name: str) -> None:
        super().__init__(text)
        self.name = name


def mask_cell_phone(value: str) -> str:
    """A phone from a refused row, masked whether or not it is a valid number."""
    try:
        return mask_msisdn(normalize_msisdn(value))
    except InvalidPhoneNumber:
        text = value.strip()
        if len(text) <= 4:
            return "*" * len(text)
        return text[:3] + "*" * (len(text) - 5) + text[-2:]


def safe_file_name(stem: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in stem)[:80] or "upload"


# Shorter terms would match most names, and a trigram index cannot narrow them down.
NAME_SEARCH_MIN = 3
# The list shows the count and total of the filter in view when the filtered set is at most this many rows
# (the paginator has counted it up to its cap already); beyond, it asks for a narrower filter.
TOTALS_CAP = 10_000

# Each audit action as a sentence ("{actor}" is who did it).
EVENT_SENTENCES = {
    "requested": "{actor} requested it",
    "requested_again": "{actor} requested it again after the earlier payout failed",
    "retried": "{actor} requested it again as a new payout",
    "approval": "{actor} approved it; another approval is needed",
    "approved": "{actor} approved it: it will be sent",
    "approval_voided": "{actor} changed it: the approvals given so far were voided",
    "edited": "{actor} edited it",
    "rejected": "{actor} rejected it",
    "held": "Held before sending",
    "sending": "Claimed by a worker to send to M-Pesa",
    "submitted": "M-Pesa accepted the request",
    "send_retry": "M-Pesa refused the request before it left; it will be tried again",
    "completed": "M-Pesa paid it",
    "failed": "M-Pesa reported that it failed",
    "outcome_unknown": "The outcome is unknown; a status query will settle it",
    "queue_timeout": "M-Pesa's queue timed out; a status query will settle it",
    "status_query": "A Transaction Status query was sent",
    "unanswered": "Status queries went unanswered: it needs a person to review it",
    "result_mismatch": "M-Pesa's result disagrees with the payout: it needs review",
    "result_for_unsent_payout": "A result arrived for a payout we had not sent",
    "reviewed": "{actor} reviewed it against the M-Pesa portal",
}


def event_sentence(event) -> str:
    template = EVENT_SENTENCES.get(event.action)
    if template is None:
        return event.action.replace("_", " ").capitalize()
    return template.format(actor=event.actor_label or "The system")


_NAME_NOISE = {"MR", "MRS", "MS", "DR"}


def _name_words(name: str) -> set[str]:
    cleaned = "".join(ch if ch.isalpha() else " " for ch in name.upper())
    return {word for word in cleaned.split() if len(word) > 1 and word not in _NAME_NOISE}


def names_differ(intended: str, reported: str) -> bool:
    """True when the name M-Pesa reports for the recipient shares no word with the one we intended (M-Pesa
    writes names in capitals, sometimes only two of them, so order, case and extra names are not a
    difference). Nothing to compare when either is blank."""
    intended_words, reported_words = _name_words(intended or ""), _name_words(reported or "")
    if not intended_words or not reported_words:
        return False
    return not intended_words & reported_words


def what_happens_next(payout: Payout, approvals: int) -> str:
    status = payout.status
    if status == PayoutStatus.PENDING_APPROVAL:
        missing = max(payout.required_approvals - approvals, 1)
        return (
            f"It waits for {missing} more approval{'s' if missing > 1 else ''} from someone other than "
            f"{payout.requested_by}; then a worker sends it to M-Pesa."
        )
    if status == PayoutStatus.APPROVED:
        if payout.hold_reason:
            return f"Approved, held before sending: {payout.hold_reason}. It goes as soon as that clears."
        return "Approved: a worker sends it to M-Pesa within seconds (unless payouts are paused)."
    if status in (PayoutStatus.SENDING, PayoutStatus.SUBMITTED):
        return "Sent to M-Pesa: its result arrives by callback and settles the payout. Nothing to do."
    if status == PayoutStatus.VERIFYING:
        return (
            "The outcome is not known yet: a Transaction Status query will settle it. It is never sent again; "
            "wait, or use Query status now."
        )
    if status == PayoutStatus.NEEDS_REVIEW:
        return f"A person must check the M-Pesa portal and mark it reviewed. Why: {payout.review_reason or '-'}"
    if status == PayoutStatus.COMPLETED:
        return "Nothing: M-Pesa paid it."
    if status == PayoutStatus.REJECTED:
        return "Nothing: it was rejected and never sent."
    if status == PayoutStatus.FAILED:
        return "No money moved. Fix the cause below, then Request again (a new payout, approved again)."
    return ""


def active_approvals_count():
    """Active approvals of each listed payout, as a correlated subquery: evaluated for the rows on the
    page only, where a JOIN and GROUP BY would aggregate the whole table before the LIMIT."""
    counts = (
        PayoutApproval.objects.filter(payout=OuterRef("pk"), voided_at__isnull=True)
        .order_by()
        .values("payout")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def parse_ids(raw: str | list[str]) -> list[int]:
    values = raw if isinstance(raw, list) else [raw]
    ids: list[int] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if part.isdigit() and int(part) not in ids:
                ids.append(int(part))
    return ids


def editor_label(editor: PayoutEditor) -> str:
    """"jane (amount, phone)": who changed the payout and what."""
    return f"{editor.user} ({', '.join(editor.fields) or 'nothing'})"


def payout_kill_switch_context() -> dict:
    control = PayoutControl.objects.select_related("changed_by").filter(pk=1).first()
    return {"payout_control": control, "payouts_paused_env": settings.PAYOUTS_PAUSED}


def paid_from(payout: Payout) -> str:
    if not payout.payment_id:
        return ""
    return payout.payment.phone


def phone_differs_text(payout: Payout) -> str:
    return f"This refund goes to {payout.phone}, not to the number that paid ({paid_from(payout) or 'unknown'})."


class RequesterFilter(admin.SimpleListFilter):
    """People who may request payouts, read from the (small) users table: a DISTINCT over the payouts
    table, as RelatedOnlyFieldListFilter does, would scan millions of rows."""

    title = "requester"
    parameter_name = "requested_by"

    def lookups(self, request, model_admin):
        users = (
            get_user_model()
            .objects.filter(
                Q(is_superuser=True)
                | Q(groups__permissions__codename="request_payout")
                | Q(user_permissions__codename="request_payout")
            )
            .distinct()
            .order_by(get_user_model().USERNAME_FIELD)[:200]
        )
        return [(str(user.pk), str(user)) for user in users]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(requested_by_id=int(value))
        return queryset


@admin.register(Payout)
class PayoutAdmin(FastListMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "status_badge",
        "amount_kes",
        "masked_phone",
        "recipient_name",
        "receipt",
        "requested_by",
        "approvals",
        "age",
    ]
    list_display_links = ["id"]
    list_select_related = ["requested_by"]
    list_filter = [
        "status", "kind", RequesterFilter, "command_id", ("created_at", admin.DateFieldListFilter),
        AwaitingMyApprovalFilter,
    ]  # fmt: skip
    date_hierarchy = "created_at"
    # Sorting is offered on indexed columns only: any other sort of a million rows is a full scan.
    sortable_by = ["id", "age"]
    search_fields = ["=phone"]  # the real search is get_search_results
    search_help_text = (
        "Recipient name (3 letters or more, any case), phone (any format), M-Pesa receipt, ConversationID, "
        "OriginatorConversationID, reference, the receipt of the refunded payment, or #id."
    )
    actions = ["approve_selected", "reject_selected", "query_status_now", "mark_reviewed"]
    list_per_page = 100
    change_list_template = "admin/payments/payout/change_list.html"
    change_form_template = "admin/payments/payout/change_form.html"
    fieldsets = [
        (
            "Payout",
            {
                "fields": [
                    "status_badge",
                    "kind",
                    "amount_kes",
                    "phone_full",
                    "command_id",
                    "recipient_name",
                    "recipient_kind",
                    "recipient_reference",
                    "remarks",
                    "occasion",
                    "reason",
                    "payment_link",
                    "batch_link",
                    "retry_links",
                ]
            },
        ),
        (
            "Four eyes",
            {
                "fields": [
                    "requested_by",
                    "editors_table",
                    "required_approvals",
                    "approvals_table",
                    "approved_at",
                    "hold_reason",
                    "review_reason",
                ]
            },
        ),
        (
            "M-Pesa",
            {
                "fields": [
                    "originator_conversation_id",
                    "conversation_id",
                    "receipt_full",
                    "result_code",
                    "result_description",
                    "result_meaning",
                    "receiver_name_checked",
                    "mpesa_completed_at",
                    "send_attempts",
                    "status_queries_sent",
                    "last_status_query_at",
                ]
            },
        ),
        ("Times", {"fields": ["created_at", "status_changed_at", "submitted_at", "completed_at", "updated_at"]}),
        ("History, oldest first", {"fields": ["events_table", "callbacks_table", "notifications_table"]}),
    ]
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    # --- permissions: the services decide; these only choose what to offer ------------------------

    def has_add_permission(self, request) -> bool:
        return can_request(request)

    def has_change_permission(self, request, obj=None) -> bool:
        # The change page is read-only for everyone: edits go through payout_update (edit_view).
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_request_permission(self, request) -> bool:
        return can_request(request)

    def has_approve_permission(self, request) -> bool:
        return can_approve(request)

    # --- the list ---------------------------------------------------------------------------------

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(active_approvals=active_approvals_count())

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.startswith("#") and term[1:].isdigit():
            return queryset.filter(pk=int(term[1:])), False
        # Exact matches on indexed columns only, OR-ed into one bitmap scan. The refunded payment is looked
        # up first: an IN (subquery) inside the OR would make PostgreSQL scan the whole table.
        query = (
            Q(transaction_id=term.upper())
            | Q(conversation_id=term)
            | Q(originator_conversation_id=term)
            | Q(recipient_reference=term)
        )
        payments = list(Payment.objects.filter(receipt=term.upper()).values_list("pk", flat=True)[:10])
        if payments:
            query |= Q(payment_id__in=payments)
        try:
            query |= Q(phone=normalize_msisdn(term))
        except InvalidPhoneNumber:
            pass
        if term.isdigit() and len(term) <= 10:
            query |= Q(pk=int(term))
        if len(term) >= NAME_SEARCH_MIN and not term.isdigit():
            # Case-insensitive, anywhere in the name: served on PostgreSQL by the trigram index of migration
            # 0013 on UPPER(recipient_name) (a trigram index needs 3 characters to narrow anything down).
            query |= Q(recipient_name__icontains=term)
        return queryset.filter(query), False

    def changelist_view(self, request, extra_context=None):
        context = {**payout_kill_switch_context(), **(extra_context or {})}
        context["can_upload"] = can_request(request)
        response = super().changelist_view(request, extra_context=context)
        cl = getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        if cl is not None:
            response.context_data["totals"] = self.filter_totals(cl)
        return response

    def filter_totals(self, cl) -> dict:
        """Count and KES total of the payouts the filters select, without counting a million rows: only when
        the paginator's capped count found at most TOTALS_CAP rows (an unfiltered big table is estimated,
        never counted)."""
        paginator = cl.paginator
        if paginator.estimated or paginator.capped or cl.result_count > TOTALS_CAP:
            return {"bounded": False, "cap": TOTALS_CAP}
        # Sliced, so the database stops after TOTALS_CAP + 1 rows whatever happens to the table meanwhile.
        bounded = cl.queryset.order_by().values("pk", "amount")[: TOTALS_CAP + 1]
        totals = bounded.aggregate(n=Count("pk"), total=Sum("amount"))
        return {"bounded": True, "count": totals["n"], "total": kes(totals["total"] or 0)}

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Payout) -> str:
        shown = badge(obj.status, obj.get_status_display())
        if obj.kind == PayoutKind.REFUND:
            shown = format_html('{}<span class="payout-kind">refund</span>', shown)
        if obj.hold_reason and obj.status == PayoutStatus.APPROVED:
            return format_html('{} <span title="{}">held</span>', shown, obj.hold_reason)
        return shown

    @admin.display(description="Phone")
    def masked_phone(self, obj: Payout) -> str:
        if obj.phone_differs_from_payment:
            return format_html(
                '{} <strong style="color:#c53030" title="Not the number that paid">&#9888; other phone</strong>',
                mask_msisdn(obj.phone),
            )
        return mask_msisdn(obj.phone)

    @admin.display(description="Approvals")
    def approvals(self, obj: Payout) -> str:
        count = getattr(obj, "active_approvals", None)
        if count is None:
            count = obj.approvals.filter(voided_at__isnull=True).count()
        return f"{count}/{obj.required_approvals}"

    @admin.display(description="Age", ordering="created_at")
    def age(self, obj: Payout) -> str:
        # How long an open payout has waited; a finished one has no age (its times are on its page).
        if obj.status in FINAL_STATUSES:
            return "-"
        return time_since(obj.created_at)

    @admin.display(description="Amount")
    def amount_kes(self, obj: Payout) -> str:
        return kes(obj.amount)

    @admin.display(description="M-Pesa receipt")
    def receipt(self, obj: Payout) -> str:
        return obj.transaction_id or "-"

    # --- the (read-only) change page --------------------------------------------------------------

    @admin.display(description="Phone")
    def phone_full(self, obj: Payout) -> str:
        if obj.phone_differs_from_payment:
            return format_html("{}<br>{}", obj.phone, warning_box(phone_differs_text(obj)))
        return obj.phone

    @admin.display(description="M-Pesa receipt")
    def receipt_full(self, obj: Payout) -> str:
        return obj.transaction_id or "-"

    @admin.display(description="Recipient type")
    def recipient_kind(self, obj: Payout) -> str:
        return obj.recipient_type or "-"

    @admin.display(description="What the result code means")
    def result_meaning(self, obj: Payout) -> str:
        if not obj.result_code:
            return "-"
        info = result_codes.lookup(obj.result_code)
        if result_codes.is_success(obj.result_code):
            return info.meaning
        return format_html("{}<br><strong>What to do:</strong> {}", info.meaning, info.action)

    @admin.display(description="Recipient name M-Pesa reports")
    def receiver_name_checked(self, obj: Payout) -> str:
        if not obj.receiver_name:
            return "-"
        if names_differ(obj.recipient_name, obj.receiver_name):
            return format_html(
                "{}<br>{}",
                obj.receiver_name,
                warning_box(f"Not the name we intended ({obj.recipient_name}): check who received it."),
            )
        return obj.receiver_name

    @admin.display(description="Requested again")
    def retry_links(self, obj: Payout) -> str:
        parts = []
        if obj.retry_of_id:
            parts.append(format_html("This is a request again of {}.", link_to(Payout, obj.retry_of_id)))
        for pk in obj.retries.order_by("pk").values_list("pk", flat=True):
            parts.append(format_html("Requested again as {}.", link_to(Payout, pk)))
        return format_html_join(" ", "{}", ((part,) for part in parts)) if parts else "-"

    @admin.display(description="Refunded payment")
    def payment_link(self, obj: Payout) -> str:
        return link_to(Payment, obj.payment_id)

    @admin.display(description="Batch")
    def batch_link(self, obj: Payout) -> str:
        return link_to(PayoutBatch, obj.batch_id)

    @admin.display(description="Approvals")
    def approvals_table(self, obj: Payout) -> str:
        rows = []
        for approval in obj.approvals.select_related("approver"):
            bound = f"{kes(approval.amount)} to {approval.phone} ({approval.command_id})"
            state = f"voided {when(approval.voided_at)}: {approval.voided_reason}" if approval.voided_at else "active"
            rows.append((when(approval.created_at), approval.approver, bound, state))
        return table(["When", "Approver", "Approved", "State"], rows, empty="No approvals yet.")

    @admin.display(description="Edited by")
    def editors_table(self, obj: Payout) -> str:
        rows = [
            (
                when(editor.first_edited_at),
                when(editor.last_edited_at),
                editor.user,
                ", ".join(editor.fields),
                "yes: may not approve it" if editor.changed_bound else "no",
            )
            for editor in obj.editors.select_related("user")
        ]
        return table(
            ["First edit", "Last edit", "By", "Fields changed", "Changed what is paid"],
            rows,
            empty="Nobody has edited it since it was requested.",
        )

    @admin.display(description="Events")
    def events_table(self, obj: Payout) -> str:
        from payments.models import PayoutEvent

        events = obj.events.select_related("actor").order_by("created_at", "id")
        rows = [
            (
                link_to(PayoutEvent, event.pk, when(event.created_at)),
                event_sentence(event),
                f"{event.from_status or '-'} → {event.to_status or '-'}",
                f"{event.actor_label} ({event.get_source_display()})",
                link_to(DarajaCallback, event.callback_id) if event.callback_id else "",
                describe_details(event.details),
            )
            for event in events
        ]
        return table(["When", "What happened", "Status", "By (source)", "Callback", "Details"], rows)

    @admin.display(description="Notifications")
    def notifications_table(self, obj: Payout) -> str:
        from notifications.models import Notification

        rows = [
            (
                link_to(Notification, note.pk, when(note.created_at)),
                note.get_alert_display(),
                mask_msisdn(note.to) if note.to.isdigit() and len(note.to) == 12 else note.to,
                note.get_status_display(),
                when(note.sent_at) if note.sent_at else "-",
            )
            for note in obj.notifications.order_by("created_at", "id")
        ]
        return table(["Queued", "Alert", "To", "Status", "Sent"], rows, empty="No notifications about this payout.")

    @admin.display(description="Callbacks")
    def callbacks_table(self, obj: Payout) -> str:
        callbacks = obj.callbacks.order_by("received_at", "id")
        rows = [
            (
                link_to(DarajaCallback, callback.pk, when(callback.received_at)),
                callback.get_kind_display(),
                badge(callback.outcome, callback.get_outcome_display()),
                callback.result_code,
                callback.transaction_id,
                warning_box("mismatch") if callback.mismatch else "",
                mask_tokens(callback.path),
            )
            for callback in callbacks
        ]
        return table(
            ["Received", "Kind", "Outcome", "Result", "Receipt", "", "Path"],
            rows,
            empty="No callbacks received for this payout.",
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Built from the very row the page shows (a callback may settle the payout while the page loads).
        if obj is not None:
            context["payout_tools"] = self.object_tools(request, obj)
            context["summary"] = self.summary(obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def summary(self, payout: Payout) -> dict:
        """What the page opens with: the payout in a few lines, who did what, and what happens next."""
        events = list(
            payout.events.filter(action__in=("edited", "approval_voided")).select_related("actor").order_by("pk")
        )
        edits = [
            {"who": event.actor_label, "when": when(event.created_at), "what": ", ".join(sorted(event.details or {}))}
            for event in events
        ]
        approvals = list(payout.approvals.filter(voided_at__isnull=True).select_related("approver").order_by("pk"))
        failure = None
        if payout.status == PayoutStatus.FAILED and payout.result_code:
            info = result_codes.lookup(payout.result_code)
            failure = {"code": payout.result_code, "meaning": info.meaning, "action": info.action}
        return {
            "amount": kes(payout.amount),
            "receipt": payout.transaction_id,
            "requested_by": payout.requested_by,
            "requested_at": when(payout.created_at),
            "edits": edits,
            "approvals": [{"who": a.approver, "when": when(a.created_at)} for a in approvals],
            "next": what_happens_next(payout, len(approvals)),
            "failure": failure,
            "names_differ": names_differ(payout.recipient_name, payout.receiver_name),
            "retries": list(payout.retries.order_by("pk").values_list("pk", flat=True)),
        }

    def object_tools(self, request, payout: Payout) -> list[dict]:
        tools = []
        url = self.url
        if payout.status in payout_services.EDITABLE_STATUSES and can_request(request):
            tools.append({"url": url("edit", payout.pk), "label": "Edit"})
        if can_approve(request):
            if payout.status == PayoutStatus.PENDING_APPROVAL:
                tools.append({"url": url("approve") + f"?ids={payout.pk}", "label": "Approve"})
            if payout.status in payout_services.EDITABLE_STATUSES:
                tools.append({"url": url("reject") + f"?ids={payout.pk}", "label": "Reject"})
            if payout.status == PayoutStatus.NEEDS_REVIEW:
                tools.append({"url": url("review", payout.pk), "label": "Mark reviewed"})
        if payout.status in QUERYABLE_FROM_ADMIN and (can_approve(request) or can_request(request)):
            tools.append({"url": url("query_status", payout.pk), "label": "Query status now"})
        if payout.status == PayoutStatus.FAILED and can_request(request) and not payout.retries.exists():
            tools.append({"url": url("request_again", payout.pk), "label": "Request again"})
        return tools

    # --- URLs -------------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path("approve/", view(self.approve_view), name="payments_payout_approve"),
            path("reject/", view(self.reject_view), name="payments_payout_reject"),
            path("bulk-upload/", view(self.bulk_upload_view), name="payments_payout_bulk_upload"),
            path("bulk-upload/confirm/", view(self.bulk_confirm_view), name="payments_payout_bulk_confirm"),
            path("bulk-upload/template.csv", view(self.bulk_template_view), name="payments_payout_bulk_template"),
            path(
                "bulk-upload/<str:token>/refused-rows.csv",
                view(self.bulk_errors_view),
                name="payments_payout_bulk_errors",
            ),
            path("<int:object_id>/edit/", view(self.edit_view), name="payments_payout_edit"),
            path("<int:object_id>/review/", view(self.review_view), name="payments_payout_review"),
            path("<int:object_id>/query-status/", view(self.query_status_view), name="payments_payout_query_status"),
            path(
                "<int:object_id>/request-again/", view(self.request_again_view), name="payments_payout_request_again"
            ),
        ]
        return custom + super().get_urls()

    def url(self, name: str, *args) -> str:
        return reverse(f"admin:payments_payout_{name}", args=args, current_app=self.admin_site.name)

    def page(self, request, template: str, title: str, **context) -> TemplateResponse:
        return TemplateResponse(
            request,
            template,
            {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context},
        )

    def back(self, request, default: str) -> HttpResponseRedirect:
        return HttpResponseRedirect(safe_next(request) or default)

    # --- add: a disbursement request --------------------------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        if not can_request(request):
            return refused(request, "Only payout requesters can request disbursements.")
        # Two steps, as a refund: the form ("Continue", which checks the amount, phone and limits), then a
        # confirmation of what will be created ("Yes, request this payout").
        form = DisbursementForm(request.POST or None)
        if request.method == "POST" and form.is_valid() and "edit" not in request.POST:
            data = form.cleaned_data
            try:
                phone, amount = payout_services.payout_request_precheck(phone=data["phone"], amount=data["amount"])
                payout = None
                if "confirm" in request.POST:
                    payout = payout_services.payout_request_disbursement(
                        requested_by=request.user, source=ADMIN, **data
                    )
            except PayoutError as exc:
                add_service_error(form, exc)
            else:
                if payout is None:
                    return self.page(
                        request,
                        "admin/payments/payout/disbursement_confirmation.html",
                        "Confirm the payout request",
                        form=form,
                        data=data,
                        phone=phone,
                        amount=kes(amount),
                        approvals_needed=required_approvals(amount),
                        hidden=[(name, form[name].value() or "") for name in form.fields],
                    )
                messages.success(
                    request,
                    f"Payout #{payout.pk} of {kes(payout.amount)} to "
                    f"{mask_msisdn(payout.phone)} requested; it waits for approval.",
                )
                return HttpResponseRedirect(reverse("admin:payments_payout_change", args=(payout.pk,)))
        return self.page(
            request,
            "admin/payments/payout/form_page.html",
            "Request a disbursement",
            form=form,
            submit_label="Continue",
            intro="The payout is created in pending approval: another person must approve it before it is sent.",
        )

    # --- edit: through payout_update, which voids approvals of a changed amount/phone/CommandID -----

    def edit_view(self, request, object_id: int):
        payout = get_object_or_404(Payout.objects.select_related("payment"), pk=object_id)
        if not can_request(request):
            return refused(request, "Only payout requesters can edit payouts.")
        change_url = reverse("admin:payments_payout_change", args=(payout.pk,))
        if payout.status not in payout_services.EDITABLE_STATUSES:
            messages.error(
                request, f"Payout #{payout.pk} is {payout.get_status_display().lower()}; it can no longer be edited."
            )
            return HttpResponseRedirect(change_url)
        form = PayoutEditForm.for_payout(payout, data=request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            changes = form.changes()
            if not changes:
                messages.info(request, "Nothing was changed.")
                return HttpResponseRedirect(change_url)
            voiding = payout.approvals.filter(voided_at__isnull=True).count()
            try:
                updated = payout_services.payout_update(
                    payout_id=payout.pk, updated_by=request.user, source=ADMIN, **changes
                )
            except PayoutError as exc:
                add_service_error(form, exc)
            else:
                voided = voiding - updated.approvals.filter(voided_at__isnull=True).count()
                note = f" {voided} approval(s) voided: the payout is back in pending approval." if voided else ""
                messages.success(request, f"Payout #{payout.pk} updated.{note}")
                return HttpResponseRedirect(change_url)
        approvals = payout.approvals.filter(voided_at__isnull=True).count()
        return self.page(
            request,
            "admin/payments/payout/form_page.html",
            f"Edit payout #{payout.pk}",
            form=form,
            original=payout,
            submit_label="Save changes",
            intro=f"Status: {payout.get_status_display()}. Changing the amount, phone or CommandID voids "
            f"the {approvals} approval(s) given so far and returns the payout to pending approval; whoever "
            "changes them may no longer approve it. Every change is recorded with its old and new value.",
        )

    # --- approve / reject: confirmation page, then one service call per row --------------------------

    def decision_ids(self, request) -> list[int]:
        source = request.POST if request.method == "POST" else request.GET
        ids = parse_ids(source.getlist("ids"))
        batches = parse_ids(source.getlist("batch"))
        if batches and not ids:
            ids = list(
                Payout.objects.filter(batch_id__in=batches, status=PayoutStatus.PENDING_APPROVAL)
                .order_by("pk")
                .values_list("pk", flat=True)[: MAX_PER_DECISION + 1]
            )
        return ids

    def decision_rows(self, request, ids: list[int], decision: str) -> list[dict]:
        active = PayoutApproval.objects.filter(voided_at__isnull=True).select_related("approver")
        editors = PayoutEditor.objects.select_related("user")
        payouts = (
            Payout.objects.filter(pk__in=ids)
            .select_related("requested_by", "payment")
            .prefetch_related(
                Prefetch("approvals", queryset=active, to_attr="active_list"),
                Prefetch("editors", queryset=editors, to_attr="editor_list"),
            )
            .order_by("pk")
        )
        rows = []
        for payout in payouts:
            notes = []
            if decision == "approve" and payout.status != PayoutStatus.PENDING_APPROVAL:
                notes.append(f"It is {payout.get_status_display().lower()}: it will be refused.")
            if decision == "reject" and payout.status not in payout_services.EDITABLE_STATUSES:
                notes.append(f"It is {payout.get_status_display().lower()}: it will be refused.")
            if payout.requested_by_id == request.user.pk:
                notes.append("You requested it: another person must decide on it.")
            elif decision == "approve" and any(
                e.user_id == request.user.pk and e.changed_bound for e in payout.editor_list
            ):
                notes.append("You changed its amount, phone or CommandID: another person must approve it.")
            if any(a.approver_id == request.user.pk for a in payout.active_list):
                notes.append("You have already approved it.")
            rows.append(
                {
                    "payout": payout,
                    "approvers": ", ".join(str(a.approver) for a in payout.active_list),
                    "editors": [editor_label(e) for e in payout.editor_list],
                    "approval_count": len(payout.active_list),
                    "warning": phone_differs_text(payout) if payout.phone_differs_from_payment else "",
                    "notes": notes,
                }
            )
        return rows

    def decision_page(self, request, decision: str, ids: list[int], form=None) -> TemplateResponse:
        rows = self.decision_rows(request, ids, decision)
        total = sum(row["payout"].amount for row in rows)
        title = ("Approve" if decision == "approve" else "Reject") + f" {len(rows)} payout(s)"
        return self.page(
            request,
            f"admin/payments/payout/{decision}_confirmation.html",
            title,
            rows=rows,
            total=total,
            ids=",".join(str(row["payout"].pk) for row in rows),
            form=form,
            post_url=self.url(decision),
            # Only a link to this site: `?next=javascript:...` would otherwise run script on one click.
            next=safe_next(request),
            warnings=sum(1 for row in rows if row["warning"]),
            **payout_kill_switch_context(),
        )

    def _decision_guard(self, request, ids: list[int]):
        if not can_approve(request):
            return refused(request, "Only payout approvers can approve or reject payouts.")
        if not ids:
            messages.warning(request, "No payouts to decide on: none was chosen, or none is pending approval.")
            return HttpResponseRedirect(self.url("changelist"))
        if len(ids) > MAX_PER_DECISION:
            messages.error(request, f"Choose at most {MAX_PER_DECISION} payouts at a time.")
            return HttpResponseRedirect(self.url("changelist"))
        return None

    def approve_view(self, request):
        ids = self.decision_ids(request)
        refused = self._decision_guard(request, ids)
        if refused:
            return refused
        if request.method != "POST" or "confirm" not in request.POST:
            return self.decision_page(request, "approve", ids)
        paused = payouts_paused()
        with payout_services.sends_queued_together():
            rows = [self._approve_one(request, pk, paused=paused) for pk in ids]
        report_rows(request, rows)
        return self.back(request, self.url("changelist"))

    def _approve_one(self, request, pk: int, *, paused: bool = False) -> RowResult:
        try:
            payout = payout_services.payout_approve(payout_id=pk, approved_by=request.user, source=ADMIN)
        except Payout.DoesNotExist:
            return RowResult(pk, False, "no such payout.")
        except PayoutError as exc:
            return RowResult(pk, False, exc.message)
        if payout.status == PayoutStatus.APPROVED:
            if paused:
                return RowResult(pk, True, "approved; it waits until payouts are resumed (kill switch).")
            return RowResult(pk, True, "approved; it will be sent.")
        count = payout.approvals.filter(voided_at__isnull=True).count()
        return RowResult(
            pk, True, f"approval recorded ({count} of {payout.required_approvals}); it needs another approver."
        )

    def reject_view(self, request):
        ids = self.decision_ids(request)
        refused = self._decision_guard(request, ids)
        if refused:
            return refused
        if request.method != "POST" or "confirm" not in request.POST:
            return self.decision_page(request, "reject", ids, form=RejectForm())
        form = RejectForm(request.POST)
        if not form.is_valid():
            return self.decision_page(request, "reject", ids, form=form)
        reason = form.cleaned_data["reason"]
        results = []
        for pk in ids:
            try:
                payout_services.payout_reject(payout_id=pk, rejected_by=request.user, reason=reason, source=ADMIN)
            except Payout.DoesNotExist:
                results.append(RowResult(pk, False, "no such payout."))
            except PayoutError as exc:
                results.append(RowResult(pk, False, exc.message))
            else:
                results.append(RowResult(pk, True, "rejected."))
        report_rows(request, results)
        return self.back(request, self.url("changelist"))

    @admin.action(description="Approve selected payouts…", permissions=["approve"])
    def approve_selected(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_PER_DECISION + 1])
        return self._decision_guard(request, ids) or self.decision_page(request, "approve", ids)

    @admin.action(description="Reject selected payouts…", permissions=["approve"])
    def reject_selected(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_PER_DECISION + 1])
        return self._decision_guard(request, ids) or self.decision_page(request, "reject", ids, form=RejectForm())

    # --- what happened to it? ---------------------------------------------------------------------

    def _query_one(self, request, payout_id: int, status: str) -> RowResult:
        if status not in QUERYABLE_FROM_ADMIN:
            return RowResult(
                payout_id, False, f"it is {status}; only verifying and needs-review payouts are queried from here."
            )
        try:
            outcome = dispatch.payout_query_status(payout_id=payout_id, source=ADMIN, force=True, actor=request.user)
        except ImproperlyConfigured as exc:
            return RowResult(payout_id, False, f"Daraja is not configured: {exc}")
        if outcome == "queried":
            return RowResult(payout_id, True, "status query sent; M-Pesa's answer will settle the payout.")
        if outcome == "error":
            return RowResult(payout_id, False, "the status query could not be sent (Daraja error); try again later.")
        return RowResult(payout_id, False, f"not queried ({outcome}).")

    @admin.action(description="Query status now (verifying / needs review)", permissions=["request", "approve"])
    def query_status_now(self, request, queryset):
        rows = list(queryset.order_by("pk").values_list("pk", "status")[: MAX_PER_DECISION + 1])
        if len(rows) > MAX_PER_DECISION:
            messages.error(request, f"Choose at most {MAX_PER_DECISION} payouts at a time.")
            return None
        report_rows(request, [self._query_one(request, pk, status) for pk, status in rows])
        return None

    def query_status_view(self, request, object_id: int):
        payout = get_object_or_404(Payout, pk=object_id)
        if not (can_approve(request) or can_request(request)):
            return refused(request, "Only payout requesters and approvers can ask M-Pesa for a payout's status.")
        change_url = reverse("admin:payments_payout_change", args=(payout.pk,))
        if request.method == "POST":
            report_rows(request, [self._query_one(request, payout.pk, payout.status)])
            return HttpResponseRedirect(change_url)
        return self.page(
            request,
            "admin/payments/confirm.html",
            f"Query the status of payout #{payout.pk}",
            original=payout,
            cancel_url=change_url,
            submit_label="Ask M-Pesa now",
            text=f"Payout #{payout.pk} is {payout.get_status_display().lower()}. A Transaction Status query asks "
            "M-Pesa what happened to it; the answer arrives by callback and settles it. Nothing is sent again.",
        )

    # --- a failed payout, requested again ------------------------------------------------------------

    def request_again_view(self, request, object_id: int):
        payout = get_object_or_404(Payout, pk=object_id)
        if not can_request(request):
            return refused(request, "Only payout requesters can request a failed payout again.")
        change_url = reverse("admin:payments_payout_change", args=(payout.pk,))
        if request.method == "POST":
            try:
                retry = payout_services.payout_request_again(
                    payout_id=payout.pk, requested_by=request.user, source=ADMIN
                )
            except PayoutError as exc:
                messages.error(request, f"Payout #{payout.pk}: {exc.message}")
                return HttpResponseRedirect(change_url)
            messages.success(
                request,
                f"Payout #{retry.pk} requested: {kes(retry.amount)} to {mask_msisdn(retry.phone)}, again after "
                f"#{payout.pk} failed. It waits for approval.",
            )
            return HttpResponseRedirect(reverse("admin:payments_payout_change", args=(retry.pk,)))
        meaning = ""
        if payout.result_code:
            info = result_codes.lookup(payout.result_code)
            meaning = f" It failed with result {payout.result_code}: {info.meaning}. What to do: {info.action}."
        return self.page(
            request,
            "admin/payments/confirm.html",
            f"Request payout #{payout.pk} again",
            original=payout,
            cancel_url=change_url,
            submit_label="Yes, request it again",
            text=f"Payout #{payout.pk} ({kes(payout.amount)} to {payout.phone}) failed: no money moved.{meaning} "
            "Requesting it again creates a new payout with the same recipient, amount and CommandID and a new "
            "OriginatorConversationID, waiting for approval by someone other than you. The failed payout is not "
            "sent again.",
        )

    # --- needs_review: a person settles it ----------------------------------------------------------

    @admin.action(description="Mark reviewed (one needs-review payout)…", permissions=["approve"])
    def mark_reviewed(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            messages.error(request, "Mark reviewed works on one payout at a time: each needs its own receipt and note.")
            return None
        return HttpResponseRedirect(self.url("review", ids[0]))

    def review_view(self, request, object_id: int):
        payout = get_object_or_404(Payout, pk=object_id)
        if not can_approve(request):
            return refused(request, "Only payout approvers can mark a payout reviewed.")
        change_url = reverse("admin:payments_payout_change", args=(payout.pk,))
        if payout.status != PayoutStatus.NEEDS_REVIEW:
            messages.error(request, f"Payout #{payout.pk} is {payout.get_status_display().lower()}, not needs review.")
            return HttpResponseRedirect(change_url)
        form = ReviewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                payout_services.payout_mark_reviewed(
                    payout_id=payout.pk, reviewed_by=request.user, source=ADMIN, **form.cleaned_data
                )
            except PayoutError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Payout #{payout.pk} marked {form.cleaned_data['resolution']}.")
                return HttpResponseRedirect(change_url)
        return self.page(
            request,
            "admin/payments/payout/form_page.html",
            f"Mark payout #{payout.pk} reviewed",
            form=form,
            original=payout,
            submit_label="Record the review",
            intro=f"Why it needs review: {payout.review_reason or 'no answer from M-Pesa'}. Check the M-Pesa portal "
            f"for OriginatorConversationID {payout.originator_conversation_id} ({kes(payout.amount)} to "
            f"{payout.phone}) and record what it shows. Nothing is sent again from here.",
        )

    # --- bulk disbursement ------------------------------------------------------------------------

    # Upload -> preview (nothing created) -> confirm (the batch is created, every row checked again). The file's
    # text waits in the uploader's session between the two, under a random token; at most SESSION_UPLOADS.

    def _uploads(self, request) -> dict:
        return request.session.get(UPLOADS_KEY, {})

    def _upload(self, request, token: str) -> dict | None:
        return self._uploads(request).get(token) if token else None

    def bulk_upload_view(self, request):
        if not can_request(request):
            return refused(request, "Only payout requesters can upload a bulk disbursement.")
        form = BulkUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            raw = upload.read(bulk.MAX_BYTES + 1)
            try:
                text = bulk.decoded(raw)
                preview = bulk.payout_batch_preview(uploaded_by=request.user, file=io.StringIO(text))
            except PayoutError as exc:
                form.add_error("file", exc.message)
            else:
                token = secrets.token_urlsafe(12)
                uploads = dict(list(self._uploads(request).items())[-(SESSION_UPLOADS - 1) :])
                uploads[token] = {
                    "text": text,
                    "file_name": PurePath(upload.name or "").name[:255],
                    "name": form.cleaned_data["name"],
                    "command_id": form.cleaned_data["command_id"],
                }
                request.session[UPLOADS_KEY] = uploads
                return self.bulk_preview_page(request, token, uploads[token], preview)
        return self.page(
            request,
            "admin/payments/payout/bulk_upload.html",
            "Upload a bulk disbursement (CSV)",
            form=form,
            submit_label="Check the file",
        )

    def bulk_preview_page(self, request, token: str, upload: dict, preview) -> TemplateResponse:
        refused_rows = []
        by_line: dict[int, list] = {}
        for error in preview.errors:
            by_line.setdefault(error.line, []).append(error)
        for line in sorted(by_line):
            first = by_line[line][0]
            refused_rows.append(
                {
                    "line": line,
                    "phone": mask_cell_phone(first.cell("phone")),
                    "name": first.cell("recipient_name"),
                    "reason": " ".join(error.message for error in by_line[line]),
                }
            )
        rows = [
            {
                "line": row.line,
                "phone": mask_msisdn(row.phone),
                "name": row.recipient_name,
                "amount": kes(row.amount),
                "reference": row.recipient_reference,
                "remarks": row.remarks,
            }
            for row in preview.rows
        ]
        return self.page(
            request,
            "admin/payments/payout/bulk_preview.html",
            "Check the batch before it is created",
            token=token,
            upload=upload,
            rows=rows,
            total=kes(preview.total),
            refused_rows=refused_rows,
            errors_url=self.url("bulk_errors", token) if refused_rows else "",
            confirm_url=self.url("bulk_confirm"),
        )

    def bulk_confirm_view(self, request):
        if not can_request(request):
            return refused(request, "Only payout requesters can upload a bulk disbursement.")
        upload_url = self.url("bulk_upload")
        if request.method != "POST":
            return HttpResponseRedirect(upload_url)
        token = request.POST.get("token", "")
        upload = self._upload(request, token)
        if upload is None:
            messages.error(request, "That upload is no longer waiting (confirmed already, or the session ended); "
                                    "upload the file again.")
            return HttpResponseRedirect(upload_url)
        try:
            batch, errors = bulk.payout_batch_create_from_csv(
                uploaded_by=request.user,
                file=NamedText(upload["text"], upload["file_name"]),
                source=ADMIN,
                name=upload["name"],
                command_id=upload["command_id"],
            )
        except PayoutError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(upload_url)
        uploads = self._uploads(request)
        uploads.pop(token, None)
        request.session[UPLOADS_KEY] = uploads
        if batch is None:
            messages.error(request, "No row could be created; nothing was created. Fix the rows and upload again.")
            return HttpResponseRedirect(upload_url)
        count = batch.payouts.count()
        messages.success(request, f"Batch “{batch}” created with {count} payout(s) in pending approval.")
        if errors:
            lines = len({error.line for error in errors})
            messages.warning(request, f"{lines} row(s) were not created; their reasons are in the batch's report.")
            for error in errors[:ROW_REPORT_MAX]:
                messages.error(request, str(error))
        return HttpResponseRedirect(reverse("admin:payments_payoutbatch_change", args=(batch.pk,)))

    def bulk_errors_view(self, request, token: str):
        if not can_request(request):
            return refused(request, "Only payout requesters can upload a bulk disbursement.")
        upload = self._upload(request, token)
        if upload is None:
            messages.error(request, "That upload is no longer waiting; upload the file again.")
            return HttpResponseRedirect(self.url("bulk_upload"))
        try:
            preview = bulk.payout_batch_preview(uploaded_by=request.user, file=io.StringIO(upload["text"]))
        except PayoutError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self.url("bulk_upload"))
        stem = PurePath(upload["file_name"] or "upload.csv").stem or "upload"
        response = HttpResponse(bulk.batch_errors_csv(preview.errors), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{safe_file_name(stem)}-refused-rows.csv"'
        return response

    def bulk_template_view(self, request):
        response = HttpResponse(bulk.TEMPLATE_CSV, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="bulk-disbursement-template.csv"'
        return response
