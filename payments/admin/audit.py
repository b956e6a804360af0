"""What Safaricom sent us and what we did about it: read-only, linked both ways to payouts and payments."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q

from core.console_kit import (
    FastListMixin,
    ReadOnlyAdminMixin,
    RowResult,
    badge,
    describe_details,
    kes,
    link_to,
    mask_tokens,
    pretty_json,
    report_rows,
    status_change,
    table,
    when,
)
from payments.callbacks.reprocessing import callbacks_reprocess
from payments.models import AuditEvent, DarajaCallback, FloatBalance, Payment, Payout
from payments.roles import can_approve


def _id_search(term: str) -> int | None:
    term = term.strip().lstrip("#")
    return int(term) if term.isdigit() and len(term) <= 10 else None


class RowLinksMixin:
    """The columns linking a row to the payout, payment and callback it names (each admin lists those it has)."""

    @admin.display(description="Payout")
    def payout_link(self, obj) -> str:
        return link_to(Payout, obj.payout_id)

    @admin.display(description="Payment")
    def payment_link(self, obj) -> str:
        return link_to(Payment, obj.payment_id)

    @admin.display(description="Callback")
    def callback_link(self, obj) -> str:
        return link_to(DarajaCallback, obj.callback_id)


@admin.register(DarajaCallback)
class DarajaCallbackAdmin(RowLinksMixin, ReadOnlyAdminMixin, FastListMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "received_at",
        "kind",
        "outcome_badge",
        "result_code",
        "payout_link",
        "payment_link",
        "transaction_id",
        "mismatch",
    ]
    list_filter = ["kind", "outcome", "mismatch", ("received_at", admin.DateFieldListFilter)]
    date_hierarchy = "received_at"
    sortable_by = ["id", "received_at"]
    search_fields = ["=originator_conversation_id"]  # the real search is get_search_results
    search_help_text = "Our or M-Pesa's request reference, M-Pesa receipt, or the payout's #id."
    fieldsets = [
        (
            "Callback",
            {
                "fields": [
                    "kind",
                    "outcome_badge",
                    "received_at",
                    "processed_at",
                    "http_status",
                    "error",
                    "attempts",
                    "next_attempt_at",
                    "mismatch",
                ]
            },
        ),
        (
            "Matched to",
            {
                "fields": [
                    "payout_link",
                    "payment_link",
                    "originator_conversation_id",
                    "conversation_id",
                    "transaction_id",
                    "result_code",
                    "events_table",
                ]
            },
        ),
        ("As received", {"fields": ["source_ip", "masked_path", "pretty_headers", "pretty_body"]}),
    ]
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]
    actions = ["reprocess"]

    def get_actions(self, request):
        # Read-only rows, one action: processing a stored callback again changes only what its own body says.
        return admin.ModelAdmin.get_actions(self, request)

    def has_reprocess_permission(self, request) -> bool:
        # Reprocessing settles payouts and payments: an approver's decision, as marking reviewed is.
        return can_approve(request)

    @admin.action(description="Reprocess selected callbacks (those received or in error)", permissions=["reprocess"])
    def reprocess(self, request, queryset):
        results = []
        ids = list(queryset.order_by("received_at", "id").values_list("id", flat=True)[:500])
        for callback_id, result in callbacks_reprocess(ids):
            if result.outcome is None:
                results.append(RowResult(callback_id, False, f"nothing done: {result.message}"))
            elif result.outcome == "error":
                results.append(RowResult(callback_id, False, f"failed again: {result.message}"))
            else:
                results.append(RowResult(callback_id, True, f"reprocessed: {result.outcome}"))
        report_rows(request, results, label="Callback")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(originator_conversation_id=term) | Q(conversation_id=term) | Q(transaction_id=term.upper())
        pk = _id_search(term)
        if pk is not None:
            query |= Q(payout_id=pk)
        return queryset.filter(query), False

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_badge(self, obj: DarajaCallback) -> str:
        return badge(obj.outcome, obj.get_outcome_display())

    @admin.display(description="Path")
    def masked_path(self, obj: DarajaCallback) -> str:
        return mask_tokens(obj.path)

    @admin.display(description="Headers")
    def pretty_headers(self, obj: DarajaCallback) -> str:
        return pretty_json(obj.headers)

    @admin.display(description="Body")
    def pretty_body(self, obj: DarajaCallback) -> str:
        return pretty_json(obj.raw_body)

    @admin.display(description="Events it caused")
    def events_table(self, obj: DarajaCallback) -> str:
        rows = [
            (
                link_to(AuditEvent, event.pk, when(event.created_at)),
                event.action,
                status_change(event.from_status, event.to_status),
                link_to(Payout, event.payout_id),
            )
            for event in obj.events.order_by("created_at", "id")
        ]
        return table(["When", "Action", "Status", "Payout"], rows)


@admin.register(AuditEvent)
class AuditEventAdmin(RowLinksMixin, ReadOnlyAdminMixin, FastListMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "action",
        "transition",
        "actor",
        "source",
        "payout_link",
        "payment_link",
        "callback_link",
    ]
    list_select_related = ["actor"]
    ordering = ["-created_at", "-id"]  # newest first in the list; a payout's own page lists them oldest first
    list_filter = ["source", ("created_at", admin.DateFieldListFilter)]
    date_hierarchy = "created_at"
    sortable_by = ["id", "created_at"]
    search_fields = ["=action"]  # the real search is get_search_results
    search_help_text = "The payout's #id, or an action (approved, rejected, reviewed, …)."
    fields = [
        "created_at",
        "action",
        "transition",
        "actor",
        "source",
        "payout_link",
        "payment_link",
        "callback_link",
        "pretty_details",
    ]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        pk = _id_search(term)
        if pk is not None:
            return queryset.filter(payout_id=pk), False
        return queryset.filter(action=term.lower()), False

    @admin.display(description="Status")
    def transition(self, obj: AuditEvent) -> str:
        return status_change(obj.from_status, obj.to_status)

    @admin.display(description="Details")
    def pretty_details(self, obj: AuditEvent) -> str:
        return describe_details(obj.details) or "-"


@admin.register(FloatBalance)
class FloatBalanceAdmin(RowLinksMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["observed_at", "utility_kes", "working_kes", "source", "callback_link"]
    list_filter = ["source", ("observed_at", admin.DateFieldListFilter)]
    fields = ["observed_at", "utility_kes", "working_kes", "source", "callback_link"]
    readonly_fields = fields

    @admin.display(description="Utility account available")
    def utility_kes(self, obj: FloatBalance) -> str:
        return kes(obj.utility_available)

    @admin.display(description="Working account available")
    def working_kes(self, obj: FloatBalance) -> str:
        return kes(obj.working_available)

    @admin.display(description="Callback")
    def callback_link(self, obj: FloatBalance) -> str:
        return link_to(DarajaCallback, obj.callback_id)
