"""`GET /api/reports/?start=&end=&group=day|week|month[&export=csv|xlsx]`: the Reports page's figures as JSON, or
as a file (docs/reports.md). The same selector as the console's page (payments.reports.figures)."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.money import SUM
from payments.api.permissions import CanReadPayouts
from payments.reports import figures
from payments.reports.export import minutes, report_file
from payments.reports.params import EXPORT_FORMATS, ReportParamsInvalid, export_format, report_period


class ReportMoneySerializer(serializers.Serializer):
    count = serializers.IntegerField()
    amount = serializers.DecimalField(**SUM, coerce_to_string=True)


class ReportPeriodSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    money_in = serializers.DictField(child=ReportMoneySerializer(), help_text="Payments received, by source.")
    money_out = serializers.DictField(child=ReportMoneySerializer(), help_text="Payouts completed, by rail.")
    requested = serializers.IntegerField()
    sent = serializers.IntegerField()
    completed = ReportMoneySerializer()
    failed = ReportMoneySerializer()
    unknown = ReportMoneySerializer(help_text="Outcome not known yet: verifying, in review, or past the result "
                              "deadline. Never counted as failed.")
    in_flight = serializers.IntegerField()
    not_sent = serializers.IntegerField()
    rejected = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True, help_text="Percent of completed out of completed and "
                                          "failed (as the dashboard's).")
    charges = serializers.DecimalField(**SUM)
    minutes_to_approval = serializers.FloatField(allow_null=True, help_text="Average, to a tenth of a minute.")
    minutes_approval_to_completion = serializers.FloatField(allow_null=True, help_text="Average, of the completed.")


class ReportFailureSerializer(serializers.Serializer):
    result_code = serializers.CharField()
    meaning = serializers.CharField()
    action = serializers.CharField()
    count = serializers.IntegerField()
    amount = serializers.DecimalField(**SUM)


class ReportSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    group = serializers.CharField()
    generated_at = serializers.DateTimeField()
    periods = ReportPeriodSerializer(many=True)
    totals = ReportPeriodSerializer()
    failures = ReportFailureSerializer(many=True)


def _money(m: figures.Money) -> dict:
    return {"count": m.count, "amount": m.amount}


def period_data(b: figures.Bucket) -> dict:
    return {
        "start": b.start, "end": b.end,
        "money_in": {k: _money(v) for k, v in b.money_in.items()},
        "money_out": {k: _money(v) for k, v in b.money_out.items()},
        "requested": b.requested, "sent": b.sent, "completed": _money(b.completed), "failed": _money(b.failed),
        "unknown": _money(b.unknown), "in_flight": b.in_flight, "not_sent": b.not_sent, "rejected": b.rejected,
        "success_rate": b.success_rate, "charges": b.charges,
        "minutes_to_approval": minutes(b.average_to_approval),
        "minutes_approval_to_completion": minutes(b.average_to_completion),
    }  # fmt: skip


def report_data(r: figures.Report) -> dict:
    return {
        "start": r.period.start, "end": r.period.end, "group": r.period.group, "generated_at": r.generated_at,
        "periods": [period_data(b) for b in r.buckets],
        "totals": period_data(r.totals),
        "failures": [{"result_code": f.code, "meaning": f.meaning, "action": f.action, "count": f.count,
                      "amount": f.amount} for f in r.failures],
    }  # fmt: skip


PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First Nairobi day (default: the 1st of this month)."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last Nairobi day, included (default: today)."),
    OpenApiParameter("group", str, enum=["day", "week", "month"], description="Default: day."),
    OpenApiParameter("export", str, enum=list(EXPORT_FORMATS), description="A file instead of JSON."),
]


class ReportView(APIView):
    permission_classes = [CanReadPayouts]  # whoever may read payouts may read their reports

    @extend_schema(parameters=PARAMETERS, responses=ReportSerializer, operation_id="reports_retrieve")
    def get(self, request: Request) -> Response | HttpResponse:
        """Money in and out, payouts by outcome, failures by reason, charges and times, per day, week or month."""
        params = request.query_params
        try:
            period = report_period(start=params.get("start"), end=params.get("end"), group=params.get("group"),
                                   today=timezone.localdate())  # fmt: skip
            fmt = export_format(params.get("export"))
        except ReportParamsInvalid as exc:
            return Response({exc.field: [exc.message]}, status=400)
        result = figures.report(period)
        if fmt is None:
            return Response(ReportSerializer(report_data(result)).data)
        content, content_type, name = report_file(result, fmt)
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
