"""The REST API. Each area registers its views on the one router here."""

from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from payments.api.dashboard import DashboardView
from payments.api.payments import PaymentViewSet
from payments.api.payouts import PayoutViewSet
from payments.api.permissions import CanReadAny
from payments.api.reconciliation import DiscrepancyViewSet, StatsViewSet

router = DefaultRouter()
router.register("payments", PaymentViewSet, basename="payment")
router.register("payouts", PayoutViewSet, basename="payout")
router.register("stats", StatsViewSet, basename="stats")
router.register("reconciliation/discrepancies", DiscrepancyViewSet, basename="discrepancy")

urlpatterns = [
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
    path("", include(router.urls)),
    # The OpenAPI 3 document of the whole API, and a browsable page of it (Swagger UI served from our own
    # static files by drf-spectacular-sidecar: nothing is fetched from a CDN). Either payout role, like the API.
    # The split view serves Swagger UI's init script as a file (`?script=`): the Content-Security-Policy
    # allows no inline script.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[CanReadAny]), name="schema"),
    path(
        "docs/",
        staff_member_required(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
]
