"""Bulk disbursements: a batch is one uploaded CSV; its payouts are approved together."""

from __future__ import annotations

from pathlib import PurePath

from django.contrib import admin
from django.db.models import Count, Q, Sum
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from core.console_kit import badge, kes, link_to, refused, table
from daraja import result_codes
from payments.admin.bulk_views import refused_paid_to, safe_file_name
from payments.admin.payout_views import MAX_PER_DECISION
from payments.admin.payout_words import paid_to, schedule_words
from payments.models import Payout, PayoutBatch, PayoutStatus
from payments.payouts import bulk
from payments.roles import can_approve, can_request


def failure_reason(payout: Payout) -> str:
    """Why a batch row did not pay, and what to do, in the catalogue's words."""
    if payout.status == PayoutStatus.FAILED:
        if payout.result_code:
            info = result_codes.lookup(payout.result_code)
            return f"Result {payout.result_code}: {info.meaning}. {info.action}."
        return payout.review_reason or payout.result_description or "Failed."
    if payout.status == PayoutStatus.REJECTED:
        return f"Rejected: {payout.review_reason}" if payout.review_reason else "Rejected."
    if payout.status == PayoutStatus.NEEDS_REVIEW:
        return f"Needs review: {payout.review_reason}" if payout.review_reason else "Needs review."
    if payout.hold_reason and payout.status == PayoutStatus.APPROVED:
        return f"Held: {payout.hold_reason}"
    return ""


@admin.register(PayoutBatch)
class PayoutBatchAdmin(admin.ModelAdmin):
    list_display = ["name", "uploaded_by", "created_at", "payout_count", "pending_count", "total_amount"]
    list_select_related = ["uploaded_by"]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    search_fields = ["name", "file_name"]
    actions = ["approve_all_in_batch"]
    change_form_template = "admin/payments/payoutbatch/change_form.html"
    fields = ["name", "file_name", "uploaded_by", "created_at", "schedule", "summary", "payouts_table", "refused"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return can_request(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_approve_permission(self, request) -> bool:
        return can_approve(request)

    def add_view(self, request, form_url="", extra_context=None):
        # A batch is made by uploading its CSV.
        return HttpResponseRedirect(reverse("admin:payments_payout_bulk_upload"))

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_payouts=Count("payouts"),
                n_pending=Count("payouts", filter=Q(payouts__status=PayoutStatus.PENDING_APPROVAL)),
                total=Sum("payouts__amount"),
            )
        )

    @admin.display(description="Payouts", ordering="n_payouts")
    def payout_count(self, obj: PayoutBatch) -> int:
        return obj.n_payouts

    @admin.display(description="Pending approval", ordering="n_pending")
    def pending_count(self, obj: PayoutBatch) -> int:
        return obj.n_pending

    @admin.display(description="Total (KES)", ordering="total")
    def total_amount(self, obj: PayoutBatch) -> str:
        return kes(obj.total)

    @admin.display(description="Send after")
    def schedule(self, obj: PayoutBatch) -> str:
        """When its payouts may leave (the upload's "Send after", or the rows' own cells)."""
        return (
            schedule_words(list(obj.payouts.values_list("send_after", flat=True)))
            or "Not scheduled: each is sent once approved."
        )

    @admin.display(description="Summary")
    def summary(self, obj: PayoutBatch) -> str:
        by_status = obj.payouts.values("status").annotate(n=Count("pk"), total=Sum("amount")).order_by("status")
        labels = dict(PayoutStatus.choices)
        rows = [(badge(row["status"], labels.get(row["status"])), row["n"], kes(row["total"])) for row in by_status]
        return table(["Status", "Payouts", "Amount"], rows, empty="No payouts.")

    @admin.display(description="Payouts")
    def payouts_table(self, obj: PayoutBatch) -> str:
        payouts = obj.payouts.order_by("pk")
        rows = [
            (
                link_to(Payout, payout.pk, f"#{payout.pk}"),
                badge(payout.status, payout.get_status_display()),
                kes(payout.amount),
                paid_to(payout, masked=True),
                payout.recipient_name,
                payout.recipient_reference,
                payout.transaction_id or "",
                failure_reason(payout),
            )
            for payout in payouts
        ]
        return table(
            ["Payout", "State", "Amount", "Paid to", "Recipient", "Reference", "M-Pesa receipt", "Why / what to do"],
            rows,
        )

    @admin.display(description="Refused rows")
    def refused(self, obj: PayoutBatch) -> str:
        errors = bulk.batch_refused_rows(obj)
        if not errors:
            return format_html("<p>{}</p>", "None: every row of the upload became a payout.")
        rows = [
            (
                error.line,
                refused_paid_to(error),
                error.cell("amount"),
                error.cell("recipient_name"),
                error.message,
            )
            for error in errors
        ]
        url = reverse("admin:payments_payoutbatch_refused_rows", args=(obj.pk,))
        download = format_html('<p><a class="button" href="{}">Download the refused rows (CSV)</a></p>', url)
        return download + table(["Line", "Paid to", "Amount", "Recipient", "Why refused"], rows)

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path(
                "<int:object_id>/refused-rows.csv",
                view(self.refused_rows_view),
                name="payments_payoutbatch_refused_rows",
            ),
        ]
        return custom + super().get_urls()

    def refused_rows_view(self, request, object_id: int):
        batch = get_object_or_404(PayoutBatch, pk=object_id)
        if not self.has_view_permission(request, batch):
            return refused(request, "Only people who may see payout batches can download their refused rows.")
        stem = PurePath(batch.file_name or "batch.csv").stem or "batch"
        response = HttpResponse(
            bulk.batch_errors_csv(bulk.batch_refused_rows(batch)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{safe_file_name(stem)}-refused-rows.csv"'
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = dict(extra_context or {})
        pending = (
            str(object_id).isdigit()
            and Payout.objects.filter(batch_id=int(object_id), status=PayoutStatus.PENDING_APPROVAL).exists()
        )
        # "Approve all" only while something in the batch waits for approval.
        if can_approve(request) and pending:
            here = reverse("admin:payments_payoutbatch_change", args=(object_id,))
            context["approve_url"] = (
                reverse("admin:payments_payout_approve") + "?" + urlencode({"batch": object_id, "next": here})
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    @admin.action(description="Approve all pending payouts in the selected batches…", permissions=["approve"])
    def approve_all_in_batch(self, request, queryset):
        batches = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True)[:MAX_PER_DECISION])
        # The payout approval page lists every payout, flags what will be refused, then reports per row.
        query = urlencode({"batch": batches, "next": reverse("admin:payments_payoutbatch_changelist")})
        return HttpResponseRedirect(reverse("admin:payments_payout_approve") + "?" + query)
