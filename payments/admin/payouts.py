"""The payouts console: the list operators work from, the four-eyes decisions, edits, bulk uploads.

Nothing here writes a Payout: every change goes through payments.services (payouts, dispatch, bulk), which
enforce the rules (no self-approval, superusers included), lock rows and write the audit events. The change
page is read-only; editing is a separate form that calls payout_update, so an approval can never survive a
change of amount, phone or CommandID.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from payments.admin.common import (
    FastListMixin,
    RowResult,
    badge,
    link_to,
    mask_tokens,
    pretty_json,
    report_rows,
    safe_next,
    table,
    time_since,
    warning_box,
    when,
)
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
    DarajaCallback,
    EventSource,
    Payment,
    Payout,
    PayoutApproval,
    PayoutBatch,
    PayoutControl,
    PayoutStatus,
)
from payments.phone import InvalidPhoneNumber, mask_msisdn, normalize_msisdn
from payments.services import dispatch
from payments.services import payouts as payout_services
from payments.services.bulk import payout_batch_create_from_csv
from payments.services.limits import payouts_paused

ADMIN = EventSource.ADMIN
REQUEST_PERMISSION = "payments.request_payout"
APPROVE_PERMISSION = "payments.approve_payout"
# The most payouts one decision page handles (a CSV batch is at most 1,000 rows).
MAX_PER_DECISION = 1000
QUERYABLE_FROM_ADMIN = (PayoutStatus.VERIFYING, PayoutStatus.NEEDS_REVIEW)


def can_request(request) -> bool:
    return request.user.has_perm(REQUEST_PERMISSION)


def can_approve(request) -> bool:
    return request.user.has_perm(APPROVE_PERMISSION)


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
        "kind",
        "amount",
        "masked_phone",
        "recipient_name",
        "requested_by",
        "approvals",
        "age",
    ]
    list_display_links = ["id"]
    list_select_related = ["requested_by"]
    list_filter = ["status", "kind", RequesterFilter, "command_id", ("created_at", admin.DateFieldListFilter)]
    date_hierarchy = "created_at"
    # Sorting is offered on indexed columns only: any other sort of a million rows is a full scan.
    sortable_by = ["id", "age"]
    search_fields = ["=phone"]  # the real search is get_search_results
    search_help_text = (
        "Phone (any format), M-Pesa receipt, ConversationID, OriginatorConversationID, reference, "
        "the receipt of the refunded payment, or #id."
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
                    "amount",
                    "phone_full",
                    "command_id",
                    "recipient_name",
                    "recipient_type",
                    "recipient_reference",
                    "remarks",
                    "occasion",
                    "reason",
                    "payment_link",
                    "batch_link",
                ]
            },
        ),
        (
            "Four eyes",
            {
                "fields": [
                    "requested_by",
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
                    "transaction_id",
                    "result_code",
                    "result_description",
                    "receiver_name",
                    "mpesa_completed_at",
                    "send_attempts",
                    "status_queries_sent",
                    "last_status_query_at",
                ]
            },
        ),
        ("Times", {"fields": ["created_at", "status_changed_at", "submitted_at", "completed_at", "updated_at"]}),
        ("History, oldest first", {"fields": ["events_table", "callbacks_table"]}),
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
        return queryset.filter(query), False

    def changelist_view(self, request, extra_context=None):
        context = {**payout_kill_switch_context(), **(extra_context or {})}
        context["can_upload"] = can_request(request)
        return super().changelist_view(request, extra_context=context)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Payout) -> str:
        shown = badge(obj.status, obj.get_status_display())
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
        return time_since(obj.created_at)

    # --- the (read-only) change page --------------------------------------------------------------

    @admin.display(description="Phone")
    def phone_full(self, obj: Payout) -> str:
        if obj.phone_differs_from_payment:
            return format_html("{}<br>{}", obj.phone, warning_box(phone_differs_text(obj)))
        return obj.phone

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
            bound = f"KES {approval.amount} to {approval.phone} ({approval.command_id})"
            state = (
                f"voided {approval.voided_at:%Y-%m-%d %H:%M}: {approval.voided_reason}"
                if approval.voided_at
                else "active"
            )
            rows.append((approval.created_at, approval.approver, bound, state))
        return table(["When", "Approver", "Approved", "State"], rows, empty="No approvals yet.")

    @admin.display(description="Events")
    def events_table(self, obj: Payout) -> str:
        from payments.models import PayoutEvent

        events = obj.events.select_related("actor").order_by("created_at", "id")
        rows = [
            (
                link_to(PayoutEvent, event.pk, when(event.created_at)),
                event.action,
                f"{event.from_status or '-'} → {event.to_status or '-'}",
                event.actor_label,
                event.get_source_display(),
                link_to(DarajaCallback, event.callback_id) if event.callback_id else "",
                pretty_json(event.details) if event.details else "",
            )
            for event in events
        ]
        return table(["When", "Action", "Status", "By", "Source", "Callback", "Details"], rows)

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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        payout = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if payout is not None:
            context["payout_tools"] = self.object_tools(request, payout)
        return super().change_view(request, object_id, form_url, extra_context=context)

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
        return tools

    # --- URLs -------------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path("approve/", view(self.approve_view), name="payments_payout_approve"),
            path("reject/", view(self.reject_view), name="payments_payout_reject"),
            path("bulk-upload/", view(self.bulk_upload_view), name="payments_payout_bulk_upload"),
            path("<int:object_id>/edit/", view(self.edit_view), name="payments_payout_edit"),
            path("<int:object_id>/review/", view(self.review_view), name="payments_payout_review"),
            path("<int:object_id>/query-status/", view(self.query_status_view), name="payments_payout_query_status"),
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
            raise DjangoPermissionDenied
        form = DisbursementForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                payout = payout_services.payout_request_disbursement(
                    requested_by=request.user, source=ADMIN, **form.cleaned_data
                )
            except PayoutError as exc:
                add_service_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Payout #{payout.pk} of KES {payout.amount} to "
                    f"{mask_msisdn(payout.phone)} requested; it waits for approval.",
                )
                return HttpResponseRedirect(reverse("admin:payments_payout_change", args=(payout.pk,)))
        return self.page(
            request,
            "admin/payments/payout/form_page.html",
            "Request a disbursement",
            form=form,
            submit_label="Request payout",
            intro="The payout is created in pending approval: another person must approve it before it is sent.",
        )

    # --- edit: through payout_update, which voids approvals of a changed amount/phone/CommandID -----

    def edit_view(self, request, object_id: int):
        payout = get_object_or_404(Payout.objects.select_related("payment"), pk=object_id)
        if not can_request(request):
            raise DjangoPermissionDenied
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
            f"the {approvals} approval(s) given so far and returns the payout to pending approval.",
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
        payouts = (
            Payout.objects.filter(pk__in=ids)
            .select_related("requested_by", "payment")
            .prefetch_related(Prefetch("approvals", queryset=active, to_attr="active_list"))
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
            if any(a.approver_id == request.user.pk for a in payout.active_list):
                notes.append("You have already approved it.")
            rows.append(
                {
                    "payout": payout,
                    "approvers": ", ".join(str(a.approver) for a in payout.active_list),
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
            raise DjangoPermissionDenied
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
            raise DjangoPermissionDenied
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
            raise DjangoPermissionDenied
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
            f"for OriginatorConversationID {payout.originator_conversation_id} (KES {payout.amount} to "
            f"{payout.phone}) and record what it shows. Nothing is sent again from here.",
        )

    # --- bulk disbursement ------------------------------------------------------------------------

    def bulk_upload_view(self, request):
        if not can_request(request):
            raise DjangoPermissionDenied
        form = BulkUploadForm(request.POST or None, request.FILES or None)
        batch, errors = None, []
        if request.method == "POST" and form.is_valid():
            try:
                batch, errors = payout_batch_create_from_csv(
                    uploaded_by=request.user,
                    file=form.cleaned_data["file"],
                    source=ADMIN,
                    name=form.cleaned_data["name"],
                    command_id=form.cleaned_data["command_id"],
                )
            except PayoutError as exc:
                form.add_error("file", exc.message)
            else:
                if batch is not None:
                    count = batch.payouts.count()
                    messages.success(request, f"Batch “{batch}” created with {count} payout(s) in pending approval.")
                if errors:
                    lines = len({error.line for error in errors})
                    messages.error(request, f"{lines} row(s) were not created; see the report below.")
                elif batch is not None:
                    return HttpResponseRedirect(reverse("admin:payments_payoutbatch_change", args=(batch.pk,)))
        return self.page(
            request,
            "admin/payments/payout/bulk_upload.html",
            "Upload a bulk disbursement (CSV)",
            form=form,
            batch=batch,
            errors=errors,
            batch_url=reverse("admin:payments_payoutbatch_change", args=(batch.pk,)) if batch else "",
        )
