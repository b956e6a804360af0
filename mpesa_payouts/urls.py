from django.contrib import admin
from django.urls import include, path

from mpesa_payouts.health import healthz

urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("callbacks/", include("payments.callbacks.urls")),
    path("api/", include("webhooks.api.urls")),
    path("api/", include("payments.api.urls")),
]
