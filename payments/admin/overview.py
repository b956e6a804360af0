"""The console's home: the admin index as an overview for the person signed in (docs/admin.md, "Home").

The admin keeps its own URLs and permissions; the index template (templates/admin/index.html) asks
`index_context` for the figures, which come from payments.dashboard (the same selector as
`GET /api/dashboard/`). The title of every admin page is SITE_NAME.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.urls import reverse

from payments import dashboard
from payments.admin.charts import float_chart, volume_chart
from payments.admin.money_in import last_pull_context
from payments.admin.operator_views import may_manage_operator, operator_links
from payments.models import IN_FLIGHT_STATUSES, DarajaCredentialSet, PayoutStatus
from payments.plans import selectors as plans
from payments.roles import VIEW_PAYOUTS

admin.site.site_header = settings.SITE_NAME
admin.site.site_title = settings.SITE_NAME
admin.site.index_title = "Overview"


def may_see_overview(user) -> bool:
    """The reads of the console: whoever may read payouts (both roles of the four-eyes workflow hold the view
    permission; superusers hold every permission), asked as the API asks it."""
    return bool(user.is_authenticated and user.is_active and user.has_perm(VIEW_PAYOUTS))


class AwaitingMyApprovalFilter(admin.SimpleListFilter):
    """`?awaiting=me`: the payouts the signed-in user may approve now (the overview's "Needs you" link)."""

    title = "waiting for"
    parameter_name = "awaiting"

    def lookups(self, request, model_admin):
        return [("me", "my approval")]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(pk__in=dashboard.awaiting_approval_of(request.user).values("pk"))
        return queryset


def payouts_url(**params) -> str:
    url = reverse("admin:payments_payout_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def index_context(request) -> dict:
    user = request.user
    if not may_see_overview(user):
        return {"visible": False}
    data = dashboard.dashboard_overview(user=user)
    today_start = data.today.start.isoformat()
    days = [d.day for d in data.series]
    return {
        "visible": True,
        "data": data,
        "links": {
            "awaiting": payouts_url(awaiting="me"),
            "needs_review": payouts_url(status__exact=PayoutStatus.NEEDS_REVIEW),
            "failed_today": payouts_url(status__exact=PayoutStatus.FAILED, status_changed_at__gte=today_start),
            "pending": payouts_url(status__exact=PayoutStatus.PENDING_APPROVAL),
            "in_flight": payouts_url(status__in=",".join(sorted(IN_FLIGHT_STATUSES))),
            "float": reverse("admin:payments_floatbalance_changelist"),
            "kill_switch": reverse("admin:payments_payoutcontrol_changelist"),
            "export": reverse("admin:payments_financejob_export"),
            "reconcile": reverse("admin:payments_financejob_reconcile"),
        },
        "failures": [
            (
                reason,
                payouts_url(
                    status__exact=PayoutStatus.FAILED, status_changed_at__gte=today_start, result_code=reason.code
                )
                if reason.code != "-"
                else None,
            )
            for reason in data.failures_today
        ],
        "periods": [("Today", data.today), ("This week", data.week)],
        "float_chart": float_chart(days, [d.float_balance for d in data.series], data.low_balance_threshold),
        "volume_chart": volume_chart(days, [d.payout_volume for d in data.series]),
        **plans_context(),
        "can_finance": user.has_perm("payments.export_ledger") or user.has_perm("payments.reconcile_statement"),
        "operator_links": _operator_links(request, data),
        **last_pull_context(request),
    }


def _operator_links(request, data) -> dict | None:
    """The banner's buttons while the active set is down, for superusers (docs/operator-health.md)."""
    if data.operator.state != "down" or not may_manage_operator(request):
        return None
    set_id = DarajaCredentialSet.objects.filter(active=True).values_list("pk", flat=True).first()
    return operator_links(set_id) if set_id else None


def plans_context() -> dict:
    """The payout plans' next runs and the runs whose batch still waits for approval, each linked."""
    return {
        "plan_next_runs": [
            (at, plan, reverse("admin:payments_payoutplan_change", args=(plan.pk,)))
            for at, plan in plans.upcoming_runs()
        ],
        "plan_runs_waiting": [
            (run, reverse("admin:payments_payoutbatch_change", args=(run.batch_id,)))
            for run in plans.runs_waiting_for_approval()
        ],
        "plans_url": reverse("admin:payments_payoutplan_changelist"),
    }
