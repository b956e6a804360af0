from django.contrib import admin
from django.urls import include, path

from mpesa_payouts.health import healthz

urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("callbacks/", include("payments.callbacks.urls")),
    path("api/ledger/", include("ledger.urls")),
    path("api/", include("payments.api.urls")),
]
