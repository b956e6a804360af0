"""The payouts console: the list operators work from, the four-eyes decisions, edits, bulk uploads.

Nothing here writes a Payout: every change goes through payments.payouts (services, dispatch, bulk), which
enforce the rules (no self-approval, superusers included), lock rows and write the audit events. The change
page is read-only; editing is a separate form that calls payout_update, so an approval can never survive a
change of amount, phone or CommandID.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.console_kit import (
    FastListMixin,
    badge,
    describe_details,
    kes,
    link_to,
    mask_tokens,
    refused,
    report_rows,
    status_change,
    table,
    time_since,
    warning_box,
    when,
)
from core.errors import ApplicationError, NotFound, PermissionDenied
from core.phone import InvalidPhoneNumber, mask_msisdn, normalize_msisdn
from daraja import result_codes
from payments.admin.overview import AwaitingMyApprovalFilter
from payments.admin.payout_views import (
    MAX_PER_DECISION,
    QUERYABLE_FROM_ADMIN,
    PayoutViews,
    payout_kill_switch_context,
    phone_differs_text,
)
from payments.admin.payout_words import names_differ, paid_to, what_happens_next
from payments.audit_sentences import event_sentence
from payments.forms import (
    RejectForm,
)
from payments.models import (
    FINAL_STATUSES,
    AuditAction,
    DarajaCallback,
    Payment,
    Payout,
    PayoutApproval,
    PayoutBatch,
    PayoutKind,
    PayoutStatus,
)
from payments.payouts import notes as note_services
from payments.payouts import review as payout_review
from payments.payouts import services as payout_services
from payments.roles import can_approve, can_request

# Shorter terms would match most names, and a trigram index cannot narrow them down.
NAME_SEARCH_MIN = 3
# The list shows the count and total of the filter in view when the filtered set is at most this many rows
# (the paginator has counted it up to its cap already); beyond, it asks for a narrower filter.
TOTALS_CAP = 10_000

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
class PayoutAdmin(PayoutViews, FastListMixin, admin.ModelAdmin):
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
        "status", "kind", "rail", RequesterFilter, "command_id", ("created_at", admin.DateFieldListFilter),
        AwaitingMyApprovalFilter,
    ]  # fmt: skip
    date_hierarchy = "created_at"
    # Sorting is offered on indexed columns only: any other sort of a million rows is a full scan.
    sortable_by = ["id", "age"]
    search_fields = ["=phone"]  # the real search is get_search_results
    search_help_text = (
        "Recipient name (3 letters or more, any case), phone (any format), M-Pesa receipt, ConversationID, "
        "Request reference, reference, the receipt of the refunded payment, or #id."
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
                    "rail",
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
                    "review_waiting",
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
        # Django's "Select payout to view" reads as an instruction to a form; the list is simply the payouts.
        context.setdefault("title", "Payouts")
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

    @admin.display(description="Paid to")
    def masked_phone(self, obj: Payout) -> str:
        if obj.phone_differs_from_payment:
            return format_html(
                '{} <strong style="color:#c53030" title="Not the number that paid">&#9888; other phone</strong>',
                mask_msisdn(obj.phone),
            )
        return paid_to(obj, masked=True)

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

    @admin.display(description="Paid to")
    def phone_full(self, obj: Payout) -> str:
        if obj.phone_differs_from_payment:
            return format_html("{}<br>{}", obj.phone, warning_box(phone_differs_text(obj)))
        return paid_to(obj)

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

    @admin.display(description="Review waiting for confirmation")
    def review_waiting(self, obj: Payout) -> str:
        waiting = payout_review.open_review(obj)
        if waiting is None:
            return "-"
        return warning_box(
            f"{waiting.recorded_by} recorded it {waiting.resolution} on {when(waiting.recorded_at)} "
            f"({waiting.note}); it contradicts what M-Pesa reported ({waiting.contradicts}). Pending "
            "confirmation by another approver, not its requester, an editor nor the recorder."
        )

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

    @admin.display(description="Case file: events and notes")
    def events_table(self, obj: Payout) -> str:
        from payments.models import AuditEvent

        events = obj.events.select_related("actor").order_by("created_at", "id")
        entries = [
            (
                event.created_at,
                (
                    link_to(AuditEvent, event.pk, when(event.created_at)),
                    event_sentence(event),
                    status_change(event.from_status, event.to_status),
                    f"{event.actor_label} ({event.get_source_display()})",
                    link_to(DarajaCallback, event.callback_id) if event.callback_id else "",
                    describe_details(event.details),
                ),
            )
            for event in events
        ]
        # Notes interleaved with the events by time: the case file reads as one story of what happened.
        entries += [
            (note.created_at, (when(note.created_at), f"Note: {note.text}", "", f"{note.author} (note)", "", ""))
            for note in obj.notes.select_related("author")
        ]
        entries.sort(key=lambda entry: entry[0])
        return table(
            ["When", "What happened", "Status", "By (source)", "Callback", "Details"], [row for _, row in entries]
        )

    def add_note_view(self, request, object_id: int):
        change = reverse("admin:payments_payout_change", args=(object_id,))
        if request.method != "POST":
            return HttpResponseRedirect(change)
        try:
            note_services.payout_note_add(payout_id=object_id, author=request.user, text=request.POST.get("text", ""))
        except PermissionDenied as exc:
            return refused(request, exc.message)
        except NotFound:
            raise Http404 from None
        except ApplicationError as exc:
            messages.error(request, f"The note was not added: {exc.message}")
        else:
            messages.success(request, "Note added to the case file.")
        return HttpResponseRedirect(f"{change}#case-file")

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
        elif payout.status == PayoutStatus.FAILED:
            # Settled by a person from the M-Pesa portal: no result code, and the reviewer's note is the reason.
            review = (
                payout.events.filter(action=AuditAction.REVIEWED, to_status=PayoutStatus.FAILED)
                .select_related("actor")
                .order_by("-pk")
                .first()
            )
            if review is not None:
                failure = {
                    "reviewed_by": review.actor_label,
                    "meaning": (review.details or {}).get("note", ""),
                    "action": "Fix what the note names, then Request again.",
                }
        return {
            "amount": kes(payout.amount),
            "paid_to": paid_to(payout),
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
            path("<int:object_id>/notes/", view(self.add_note_view), name="payments_payout_add_note"),
            path("<int:object_id>/edit/", view(self.edit_view), name="payments_payout_edit"),
            path("<int:object_id>/review/", view(self.review_view), name="payments_payout_review"),
            path("<int:object_id>/query-status/", view(self.query_status_view), name="payments_payout_query_status"),
            path("<int:object_id>/request-again/", view(self.request_again_view), name="payments_payout_request_again"),
        ]
        return custom + super().get_urls()

    # --- actions: each opens one of the pages in payout_views ----------------------------------------

    @admin.action(description="Approve selected payouts…", permissions=["approve"])
    def approve_selected(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_PER_DECISION + 1])
        return self._decision_guard(request, ids) or self.decision_page(request, "approve", ids)

    @admin.action(description="Reject selected payouts…", permissions=["approve"])
    def reject_selected(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_PER_DECISION + 1])
        return self._decision_guard(request, ids) or self.decision_page(request, "reject", ids, form=RejectForm())

    @admin.action(description="Query status now (verifying / needs review)", permissions=["request", "approve"])
    def query_status_now(self, request, queryset):
        rows = list(queryset.order_by("pk").values_list("pk", "status")[: MAX_PER_DECISION + 1])
        if len(rows) > MAX_PER_DECISION:
            messages.error(request, f"Choose at most {MAX_PER_DECISION} payouts at a time.")
            return None
        report_rows(request, [self._query_one(request, pk, status) for pk, status in rows])
        return None

    @admin.action(description="Mark reviewed (one needs-review payout)…", permissions=["approve"])
    def mark_reviewed(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            messages.error(request, "Mark reviewed works on one payout at a time: each needs its own receipt and note.")
            return None
        return HttpResponseRedirect(self.url("review", ids[0]))
