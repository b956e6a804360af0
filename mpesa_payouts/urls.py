from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from mpesa_payouts.health import healthz

urlpatterns = [
    # The console is the admin: the site's root opens it.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
    path("healthz/", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("callbacks/", include("payments.callbacks.urls")),
    path("api/", include("payments.api.urls")),
]
