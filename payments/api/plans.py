"""Payout plans: `GET/POST /api/payout-plans/`, `GET/PATCH /api/payout-plans/{id}/`,
`POST /api/payout-plans/{id}/approve|reject|pause|resume/` and `GET /api/payout-plans/{id}/runs/`.

Views parse and call payments/plans/services.py, which keeps the four eyes (a new plan, and every change of
one, waits for a second person). Approving or rejecting is a money decision: the second factor (X-OTP) is
asked as for a payout's. Runs are created by `run_payout_plans` and beat, never by a call here.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import NotFound
from core.money import MONEY
from payments.api.actions import OTP_PARAMETER, RejectSerializer
from payments.api.permissions import CanApprove, CanReadPayouts, CanRequest
from payments.api.serializers import PartialChangeMixin, refuse_unknown_fields
from payments.models import EventSource, PayoutPlan, PayoutPlanRun, PayoutPlanStatus, PlanFrequency
from payments.plans import selectors, services
from payments.second_factor import require_api_code

RUNS_LISTED = 520  # ten years of weekly runs: a query's LIMIT, not a column's width
_SCHEDULE_HELP = "weekly: weekday 0 (Monday) to 6 (Sunday); monthly: day_of_month 1 to 31 (past the month's end: " \
                 "its last day). time_of_day is HH:MM, Nairobi time."


class PlanLineSerializer(serializers.Serializer):
    recipient = serializers.IntegerField(source="recipient_id", help_text="A saved recipient's id")
    recipient_name = serializers.CharField(source="recipient.name", read_only=True)
    amount = serializers.DecimalField(**MONEY)


class PlanRunSerializer(serializers.ModelSerializer):
    batch_name = serializers.CharField(source="batch.name", read_only=True, default=None)

    class Meta:
        model = PayoutPlanRun
        fields = ["id", "scheduled_for", "batch", "batch_name", "skipped", "created_at"]
        read_only_fields = fields


class PlanSerializer(serializers.ModelSerializer):
    time_of_day = serializers.TimeField(format="%H:%M")
    schedule = serializers.SerializerMethodField(help_text="The schedule in words")
    lines = PlanLineSerializer(many=True)
    created_by = serializers.CharField(source="created_by.get_username", read_only=True)
    approved_by = serializers.CharField(source="approved_by.get_username", read_only=True, default=None)
    change_proposed_by = serializers.CharField(source="change_proposed_by.get_username", read_only=True,
                                               default=None)
    next_runs = serializers.SerializerMethodField(help_text="The next 3 occurrences, Nairobi ISO 8601")
    last_run = serializers.SerializerMethodField()

    class Meta:
        model = PayoutPlan
        fields = ["id", "name", "status", "frequency", "weekday", "day_of_month", "time_of_day", "schedule",
                  "end_date", "lines", "pending_change", "change_proposed_by", "change_proposed_at", "created_by",
                  "created_at", "approved_by", "approved_at", "runs_from", "next_runs", "last_run", "updated_at"]
        read_only_fields = fields

    def get_schedule(self, obj: PayoutPlan) -> str:
        return selectors.plan_words(obj)

    def get_next_runs(self, obj: PayoutPlan) -> list[str]:
        return [at.isoformat() for at in selectors.plan_next_runs(obj)]

    def get_last_run(self, obj: PayoutPlan) -> dict | None:
        run = selectors.plan_last_run(obj)
        return PlanRunSerializer(run).data if run is not None else None


class PlanLineWriteSerializer(serializers.Serializer):
    recipient = serializers.IntegerField(min_value=1)
    amount = serializers.DecimalField(**MONEY, min_value=1)


class PlanWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    frequency = serializers.ChoiceField(choices=PlanFrequency.choices, help_text=_SCHEDULE_HELP)
    weekday = serializers.IntegerField(min_value=0, max_value=6, required=False, allow_null=True, default=None)
    day_of_month = serializers.IntegerField(min_value=1, max_value=31, required=False, allow_null=True,
                                            default=None)
    time_of_day = serializers.RegexField(r"^[0-2][0-9]:[0-5][0-9]$", help_text="HH:MM, Nairobi time")
    end_date = serializers.DateField(required=False, allow_null=True, default=None)
    lines = PlanLineWriteSerializer(many=True, allow_empty=False)

    def validate(self, attrs):
        refuse_unknown_fields(self)
        return attrs


class PlanChangeSerializer(PartialChangeMixin, PlanWriteSerializer):
    """PATCH: any field may be left out; only those given change (the lines, when given, replace them all)."""


class PayoutPlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Payout plans by name; `?status=` narrows it."""

    serializer_class = PlanSerializer
    lookup_value_regex = "[0-9]+"
    filter_backends: list = []

    def get_permissions(self):
        if self.action in ("create", "partial_update", "pause", "resume"):
            return [CanRequest()]
        if self.action in ("approve", "reject"):
            return [CanApprove()]
        return [CanReadPayouts()]

    def get_queryset(self):
        queryset = selectors.plans_with_lines()
        wanted = self.request.query_params.get("status")
        if wanted in PayoutPlanStatus.values:
            queryset = queryset.filter(status=wanted)
        return queryset

    @extend_schema(request=PlanWriteSerializer, responses={201: PlanSerializer})
    def create(self, request):
        """Create a plan; it waits for another person's approval before it runs."""
        data = _valid(PlanWriteSerializer, request)
        plan = services.plan_create(created_by=request.user, source=EventSource.API, **data)
        return _answer(plan, status.HTTP_201_CREATED)

    @extend_schema(request=PlanChangeSerializer, responses={200: PlanSerializer})
    def partial_update(self, request, pk=None):
        """Propose a change: an approved plan keeps running as approved until another person approves it."""
        data = _valid(PlanChangeSerializer, request)
        plan = services.plan_change(plan_id=_int(pk), changed_by=request.user, source=EventSource.API, **data)
        return _answer(plan)

    @extend_schema(request=None, responses={200: PlanSerializer}, parameters=[OTP_PARAMETER])
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve a new plan (it runs from now on) or its pending change (not one you created or proposed)."""
        require_api_code(request, what="approve payout plans")
        plan = services.plan_approve(plan_id=_int(pk), approved_by=request.user, source=EventSource.API)
        return _answer(plan)

    @extend_schema(request=RejectSerializer, responses={200: PlanSerializer}, parameters=[OTP_PARAMETER])
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Refuse a new plan, or an approved plan's pending change (it stays as approved)."""
        data = _valid(RejectSerializer, request)
        require_api_code(request, what="reject payout plans")
        plan = services.plan_reject(plan_id=_int(pk), rejected_by=request.user, reason=data["reason"],
                                    source=EventSource.API)
        return _answer(plan)

    @extend_schema(request=None, responses={200: PlanSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Stop the plan's runs until it is resumed (no approval needed)."""
        return _answer(services.plan_pause(plan_id=_int(pk), paused_by=request.user, source=EventSource.API))

    @extend_schema(request=None, responses={200: PlanSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Run the plan again from now on: an occurrence that fell in the pause is not created."""
        return _answer(services.plan_resume(plan_id=_int(pk), resumed_by=request.user, source=EventSource.API))

    @extend_schema(request=None, responses={200: PlanRunSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        """The plan's runs, newest first: each occurrence's batch and the recipients it skipped."""
        plan = self.get_object()
        return Response(PlanRunSerializer(plan.runs.select_related("batch")[:RUNS_LISTED], many=True).data)


def _answer(plan: PayoutPlan, code: int = status.HTTP_200_OK) -> Response:
    return Response(PlanSerializer(selectors.plans_with_lines().get(pk=plan.pk)).data, status=code)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    if "lines" in data:
        data["lines"] = [dict(line) for line in data["lines"]]
    return data


def _int(pk) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError):
        raise NotFound() from None
