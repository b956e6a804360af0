"""`GET /api/dashboard/`: the console overview's figures as JSON, for the page's readers and anyone's own
monitoring. The same selector as the admin index (payments.dashboard), so the two never disagree."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.money import SUM
from payments import dashboard
from payments.api.permissions import CanReadPayouts
from payments.plans import selectors as plans


class CountAmountSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    amount = serializers.DecimalField(**SUM, coerce_to_string=True)


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    paid = CountAmountSerializer()
    failed = serializers.IntegerField()
    refunds = CountAmountSerializer()
    success_rate = serializers.FloatField(allow_null=True, help_text="Percent of those that ended (paid or failed).")
    callbacks_refused = serializers.IntegerField()


class FailureSerializer(serializers.Serializer):
    result_code = serializers.CharField()
    count = serializers.IntegerField()
    meaning = serializers.CharField()
    action = serializers.CharField()


class FloatReadingSerializer(serializers.Serializer):
    utility_available = serializers.DecimalField(**SUM)
    observed_at = serializers.DateTimeField()
    source = serializers.CharField()


class SeriesDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    float = serializers.DecimalField(**SUM, allow_null=True)
    payout_volume = serializers.DecimalField(**SUM)


class FloatSerializer(serializers.Serializer):
    latest = FloatReadingSerializer(allow_null=True)
    low_balance_threshold = serializers.DecimalField(**SUM)
    low = serializers.BooleanField()
    series = SeriesDaySerializer(many=True, help_text="The last 30 days, oldest first (Nairobi days).")


class OperatorSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["up", "down"])
    since = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    credential_set = serializers.CharField(allow_null=True)


class PlanNextRunSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="Nairobi ISO 8601")
    plan = serializers.IntegerField()
    name = serializers.CharField()


class PlanRunWaitingSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    scheduled_for = serializers.DateField()
    batch = serializers.IntegerField()
    batch_name = serializers.CharField()


class PayoutPlansSerializer(serializers.Serializer):
    next_runs = PlanNextRunSerializer(many=True, help_text="The next occurrences of the active plans, soonest first.")
    waiting = PlanRunWaitingSerializer(many=True, help_text="Runs whose batch still has payouts pending approval.")


class DashboardSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    awaiting_my_approval = serializers.IntegerField(
        help_text="Pending payouts the caller may approve: not requested, approved or edited by them (0 for "
        "someone who cannot approve)."
    )
    needs_review = serializers.IntegerField()
    pending_approval = serializers.IntegerField()
    in_flight = serializers.IntegerField()
    failed_today = serializers.IntegerField()
    failures_today = FailureSerializer(many=True)
    paid_today = CountAmountSerializer()
    today = PeriodSerializer()
    this_week = PeriodSerializer()
    float = FloatSerializer()
    payouts_paused = serializers.BooleanField()
    payout_plans = PayoutPlansSerializer(help_text="docs/payout-plans.md")
    operator = OperatorSerializer(help_text="Whether M-Pesa refuses the active credential set's API operator: "
                                  "`down` stops sends until a superuser reinstates it (docs/operator-health.md).")


def _period(p: dashboard.Period) -> dict:
    return {
        "start": p.start,
        "paid": {"count": p.paid_count, "amount": p.paid_amount},
        "failed": p.failed,
        "refunds": {"count": p.refunds_count, "amount": p.refunds_amount},
        "success_rate": p.success_rate,
        "callbacks_refused": p.callbacks_refused,
    }


def _plans() -> dict:
    return {
        "next_runs": [{"at": at.isoformat(), "plan": plan.pk, "name": plan.name} for at, plan in plans.upcoming_runs()],
        "waiting": [{"plan": run.plan_id, "scheduled_for": run.scheduled_for, "batch": run.batch_id,
                     "batch_name": run.batch.name} for run in plans.runs_waiting_for_approval()],
    }


def dashboard_data(o: dashboard.Overview) -> dict:
    latest = o.float_latest
    return {
        "generated_at": o.now,
        "awaiting_my_approval": o.awaiting_my_approval,
        "needs_review": o.needs_review,
        "pending_approval": o.pending_approval,
        "in_flight": o.in_flight,
        "failed_today": o.today.failed,
        "failures_today": [
            {"result_code": f.code, "count": f.count, "meaning": f.meaning, "action": f.action}
            for f in o.failures_today
        ],
        "paid_today": {"count": o.today.paid_count, "amount": o.today.paid_amount},
        "today": _period(o.today),
        "this_week": _period(o.week),
        "float": {
            "latest": None
            if latest is None
            else {"utility_available": latest.utility_available, "observed_at": latest.observed_at,
                  "source": latest.source},
            "low_balance_threshold": o.low_balance_threshold,
            "low": o.float_low,
            "series": [{"day": d.day, "float": d.float_balance, "payout_volume": d.payout_volume} for d in o.series],
        },
        "payouts_paused": o.paused,
        "payout_plans": _plans(),
        "operator": {"state": o.operator.state, "since": o.operator.since, "reason": o.operator.reason,
                     "credential_set": o.operator.credential_set},
    }  # fmt: skip


class DashboardView(APIView):
    permission_classes = [CanReadPayouts]  # as every read: an active staff user with a role

    @extend_schema(responses=DashboardSerializer, operation_id="dashboard_retrieve")
    def get(self, request: Request) -> Response:
        """The console's overview: what needs the caller, today's and this week's payouts, the float."""
        overview = dashboard.dashboard_overview(user=request.user)
        return Response(DashboardSerializer(dashboard_data(overview)).data)
