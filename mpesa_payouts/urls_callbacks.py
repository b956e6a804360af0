"""The URLs of the callbacks service (mpesa_payouts/settings_callbacks.py): what Safaricom posts to and the
health check, at the same paths as on the console (mpesa_payouts/urls.py), so one CALLBACK_BASE_URL serves
either layout. Nothing of the console, the API or the login is routed here."""

from django.urls import include, path

from mpesa_payouts.health import healthz

urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("callbacks/", include("payments.callbacks.urls")),
]
