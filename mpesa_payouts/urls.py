from django.contrib import admin
from django.urls import include, path
from two_factor.urls import urlpatterns as two_factor_urls

from mpesa_payouts.health import healthz

urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # The two-step login, second-factor enrolment (QR code), backup codes: /account/... (docs/security.md).
    path("", include(two_factor_urls)),
    path("callbacks/", include("payments.callbacks.urls")),
    path("api/", include("payments.api.urls")),
]
