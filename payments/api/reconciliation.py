"""Finance's read endpoints: `GET /api/stats/` and `GET /api/reconciliation/discrepancies/` (either payout role)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_pagination import MergedKeysetPagination
from core.money import kes
from payments import selectors
from payments.api.permissions import CanReadReconciliation
from payments.api.serializers import (
    CallbackSummarySerializer,
    DiscrepancyQuerySerializer,
    DiscrepancySerializer,
    PaymentSerializer,
    PayoutSerializer,
    StatsQuerySerializer,
    StatsSerializer,
)
from payments.models import DarajaCallback, EventSource, Payment, Payout, PullFinding
from payments.reconciliation import jobs as finance
from payments.selectors import DiscrepancyKind


class _SingleObjectSchema(AutoSchema):
    """The stats answer is one object, although the router routes it as a `list`."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


class StatsViewSet(viewsets.ViewSet):
    permission_classes = [CanReadReconciliation]
    filter_backends: list = []
    schema = _SingleObjectSchema()

    @extend_schema(parameters=[StatsQuerySerializer], responses=StatsSerializer)
    def list(self, request: Request) -> Response:
        """Counts and totals of payments and payouts created between `start` and `end` (Nairobi dates,
        inclusive; either may be left out), and the last known B2C float."""
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stats = selectors.reconciliation_stats(
            start=query.validated_data.get("start"), end=query.validated_data.get("end")
        )
        return Response(StatsSerializer(stats).data)


def _age(since: datetime, now: datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"


def _callback_label(callback: DarajaCallback) -> str:
    return f"{callback.get_kind_display()} callback #{callback.pk}"


def describe(kind: str, obj, now: datetime) -> str:
    """The sentence a person reads to know what is wrong."""
    if kind == DiscrepancyKind.PAYOUT_NEEDS_REVIEW:
        reason = obj.review_reason or "no reason was recorded"
        return f"Payout #{obj.pk} ({kes(obj.amount)} to {obj.phone}) needs review: {reason.rstrip('.')}."
    if kind == DiscrepancyKind.PAYOUT_OVERDUE:
        return (
            f"Payout #{obj.pk} ({kes(obj.amount)} to {obj.phone}) has been {obj.status} for "
            f"{_age(obj.status_changed_at, now)} with no result; the deadline is "
            f"{settings.PAYOUT_RESULT_DEADLINE_MINUTES} minutes."
        )
    if kind == DiscrepancyKind.RESULT_MISMATCH:
        if obj.payout_id:
            target = f"payout #{obj.payout_id}"
        elif obj.payment_id:
            target = f"payment #{obj.payment_id}"
        else:
            target = "our records"
        detail = obj.error or "its amount or phone differs from ours"
        return f"{_callback_label(obj)} disagreed with {target}: {detail.rstrip('.')}."
    if kind == DiscrepancyKind.CALLBACK_UNMATCHED:
        ids = obj.originator_conversation_id or obj.conversation_id or obj.transaction_id
        about = f" (id {ids})" if ids else ""
        return f"{_callback_label(obj)}{about} matched no payout or payment of ours."
    if kind == DiscrepancyKind.CALLBACK_INVALID:
        return f"{_callback_label(obj)} could not be read: {(obj.error or 'unparseable body').rstrip('.')}."
    if kind == DiscrepancyKind.CALLBACK_ERROR:
        if obj.next_attempt_at:
            retry = f"attempt {obj.attempts + 1} is due at {timezone.localtime(obj.next_attempt_at):%Y-%m-%d %H:%M:%S}"
        else:
            retry = (
                f"it failed {obj.attempts} times and is no longer retried; fix the cause, then reprocess it "
                "(admin action or `manage.py reprocess_callbacks --id`)"
            )
        error = obj.error or "no error recorded"
        return f"{_callback_label(obj)} was stored but its processing failed ({error}); {retry}."
    if kind == DiscrepancyKind.PAYOUT_IN_FLIGHT_LONG:
        payout = obj.payout
        return (
            f"Payout #{obj.payout_id} ({kes(payout.amount) if payout else 'unknown amount'}) has been in "
            f"payouts_in_flight for {_age(obj.posted_at, now)} (since ledger transaction #{obj.pk}), over "
            f"PAYOUT_IN_FLIGHT_ALERT_HOURS ({settings.PAYOUT_IN_FLIGHT_ALERT_HOURS} h); it is "
            f"{payout.status if payout else 'missing'}."
        )
    if kind == DiscrepancyKind.FLOAT_DRIFT:
        return (
            f"M-Pesa reported a float of {kes(obj.reported)}; the ledger's mpesa_utility was "
            f"{kes(obj.ledger_balance)} with {kes(obj.in_flight)} in flight: a drift of {kes(obj.drift)}. "
            f"{obj.likely_cause}"
        )
    if kind == DiscrepancyKind.PAYMENT_PENDING:
        if obj.push_sent_at and not obj.checkout_request_id and not obj.result_code:
            return (
                f"Payment #{obj.pk} ({kes(obj.amount)} from {obj.phone}) is pending: its STK push left "
                f"{_age(obj.push_sent_at, now)} ago and no answer was recorded (the worker may have stopped), so "
                f"the customer may have been prompted and paid. Look for it in the M-Pesa statement before "
                f"asking again."
            )
        if obj.result_code:
            return (
                f"Payment #{obj.pk} ({kes(obj.amount)} from {obj.phone}) is pending with its outcome unknown "
                f"({obj.result_code}: {obj.result_description}): the customer may have paid. Look for it in the "
                f"M-Pesa statement before asking again."
            )
        return (
            f"Payment #{obj.pk} ({kes(obj.amount)} from {obj.phone}) has been pending for "
            f"{_age(obj.created_at, now)}: no callback settled it."
        )
    if kind == DiscrepancyKind.PULL_FINDING:
        return obj.message
    if kind == DiscrepancyKind.CHARGE_DIFFERS:
        return (
            f"Payout #{obj.pk} ({kes(obj.amount)}, {obj.rail}) was charged {kes(obj.charge)} by M-Pesa; the tariff "
            f"expected {kes(obj.expected_charge)}: check the tariff table against your contract."
        )
    raise ValueError(kind)


def _represent(obj) -> tuple[str, dict]:
    from ledger.models import FloatCheck, JournalTransaction

    if isinstance(obj, JournalTransaction):
        payout = PayoutSerializer(obj.payout).data if obj.payout else None
        return "ledger_transaction", {"id": obj.pk, "kind": obj.kind, "posted_at": obj.posted_at, "payout": payout}
    if isinstance(obj, FloatCheck):
        return "float_check", {
            "id": obj.pk, "reading_id": obj.reading_id, "observed_at": obj.observed_at, "reported": obj.reported,
            "ledger_balance": obj.ledger_balance, "in_flight": obj.in_flight, "drift": obj.drift,
        }
    if isinstance(obj, PullFinding):
        payment = PaymentSerializer(obj.payment).data if obj.payment else None
        return "pull_finding", {"id": obj.pk, "kind": obj.kind, "receipt": obj.receipt, "run_id": obj.run_id,
                                "payment": payment}  # fmt: skip
    if isinstance(obj, Payout):
        return "payout", PayoutSerializer(obj).data
    if isinstance(obj, Payment):
        return "payment", PaymentSerializer(obj).data
    return "callback", CallbackSummarySerializer(obj).data


class DiscrepancyViewSet(viewsets.ViewSet):
    permission_classes = [CanReadReconciliation]
    filter_backends: list = []
    pagination_class = MergedKeysetPagination

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "kind",
                str,
                enum=list(DiscrepancyKind.ALL),
                many=True,
                explode=True,
                description="Only these kinds (repeat the parameter for several).",
            )
        ],
        responses=DiscrepancySerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        """Everything that needs a person, most urgent kind first and oldest first within a kind: payouts in
        review, payouts submitted or verifying past their deadline, results that disagreed with our record,
        callbacks that matched nothing or could not be read, and payments pending for over a day."""
        query = DiscrepancyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data.get("kind") or set(DiscrepancyKind.ALL)
        now = timezone.now()
        sources = [s for s in selectors.discrepancy_sources(now=now) if s.kind in wanted]

        paginator = self.pagination_class()
        page = paginator.paginate(
            request,
            [(s.queryset, s.time_field) for s in sources],
            lambda index, obj: (getattr(obj, sources[index].time_field), obj.pk),
        )
        results = []
        for index, obj in page:
            source = sources[index]
            object_type, data = _represent(obj)
            results.append(
                {
                    "kind": source.kind,
                    "object_type": object_type,
                    "object_id": obj.pk,
                    "since": getattr(obj, source.time_field),
                    "message": describe(source.kind, obj, now),
                    "object": data,
                }
            )
        return paginator.get_paginated_response(DiscrepancySerializer(results, many=True).data)


class ResolveDiscrepancySerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, help_text="What you found: required, kept in the audit trail.")


class StatementDiscrepancyResolveView(APIView):
    """`POST /api/reconciliation/statements/{job}/discrepancies/{index}/resolve/`: mark the discrepancy at
    `index` (0-based, in the order of the job's summary) of a finished statement reconciliation resolved, with
    a note. Needs the permission to reconcile statements; audited; a second resolution is a 409."""

    permission_classes = [CanReadReconciliation]

    @extend_schema(request=ResolveDiscrepancySerializer, responses={200: dict})
    def post(self, request: Request, job_id: int, index: int) -> Response:
        body = ResolveDiscrepancySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        resolved = finance.statement_discrepancy_resolve(
            job_id=job_id, index=index, note=body.validated_data["note"], resolved_by=request.user,
            source=EventSource.API,
        )  # fmt: skip
        return Response(resolved)
