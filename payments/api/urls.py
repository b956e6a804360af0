"""The REST API. Each area registers its views on the one router here."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from payments.api.approval_rules import ApprovalRuleViewSet
from payments.api.batches import BatchApproveView
from payments.api.dashboard import DashboardView
from payments.api.operator import (
    OperatorFailedView,
    OperatorReinstateView,
    OperatorRequestAgainView,
    OperatorStateView,
)
from payments.api.payments import PaymentViewSet
from payments.api.payouts import PayoutViewSet
from payments.api.permissions import CanReadAny
from payments.api.plans import PayoutPlanViewSet
from payments.api.recipients import RecipientViewSet
from payments.api.reconciliation import DiscrepancyViewSet, StatementDiscrepancyResolveView, StatsViewSet
from payments.api.reports import ReportView

router = DefaultRouter()
router.register("payments", PaymentViewSet, basename="payment")
router.register("payouts", PayoutViewSet, basename="payout")
router.register("recipients", RecipientViewSet, basename="recipient")
router.register("payout-plans", PayoutPlanViewSet, basename="payout-plan")
router.register("approval-rules", ApprovalRuleViewSet, basename="approval-rule")
router.register("stats", StatsViewSet, basename="stats")
router.register("reconciliation/discrepancies", DiscrepancyViewSet, basename="discrepancy")


def _docs_for_staff(view):
    """staff_member_required, saying why on the login page it sends a visitor to (it says nothing itself)."""
    guarded = staff_member_required(view)

    def docs(request, *args, **kwargs):
        if not (request.user.is_active and request.user.is_staff):
            messages.info(
                request,
                "The API documentation is for the console's users: sign in with your console account (a payout "
                "role) to read it. Calls to the API itself take a token in the Authorization header.",
            )
        return guarded(request, *args, **kwargs)

    return docs


urlpatterns = [
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
    path("batches/<int:batch_id>/approve/", BatchApproveView.as_view(), name="batch-approve"),
    path("reports/", ReportView.as_view(), name="reports"),
    path("operator/", OperatorStateView.as_view(), name="operator"),
    path("operator/<int:set_id>/failed/", OperatorFailedView.as_view(), name="operator-failed"),
    path("operator/<int:set_id>/reinstate/", OperatorReinstateView.as_view(), name="operator-reinstate"),
    path("operator/<int:set_id>/request-again/", OperatorRequestAgainView.as_view(), name="operator-request-again"),
    path(
        "reconciliation/statements/<int:job_id>/discrepancies/<int:index>/resolve/",
        StatementDiscrepancyResolveView.as_view(),
        name="statement-discrepancy-resolve",
    ),
    path("", include(router.urls)),
    # The OpenAPI 3 document of the whole API, and a browsable page of it (Swagger UI served from our own
    # static files by drf-spectacular-sidecar: nothing is fetched from a CDN). Either payout role, like the API.
    # The split view serves Swagger UI's init script as a file (`?script=`): the Content-Security-Policy
    # allows no inline script.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[CanReadAny]), name="schema"),
    path(
        "docs/",
        _docs_for_staff(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
]
