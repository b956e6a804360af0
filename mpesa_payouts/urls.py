from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from two_factor.urls import urlpatterns as two_factor_urls

from mpesa_payouts.favicon import favicon
from mpesa_payouts.health import healthz
from notifications.views import inbox_view
from payments.admin.reports import reports_view
from payments.devices import SetupCompleteView, SetupView
from payments.login import LoginView

urlpatterns = [
    # The console is the admin: the site's root opens it.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
    path("healthz/", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/inbox/", admin.site.admin_view(inbox_view), name="inbox"),
    path("admin/reports/", admin.site.admin_view(reports_view), name="reports"),
    path("admin/", admin.site.urls),
    # The two-step login, second-factor enrolment (QR code), backup codes: /account/... (docs/security.md).
    # Enrolment first, ours: an unverified session of someone who has a device may not add one.
    # The two-step login, ours: a code retyped after one typo is checked at once (payments/login.py).
    path("account/login/", LoginView.as_view(), name="second_factor_login"),
    path("account/two_factor/setup/", SetupView.as_view(), name="second_factor_setup"),
    # Its last step, ours too: it makes and shows the backup codes and leads on to the console.
    path("account/two_factor/setup/complete/", SetupCompleteView.as_view(), name="second_factor_setup_complete"),
    path("", include(two_factor_urls)),
    path("callbacks/", include("payments.callbacks.urls")),
    path("api/", include("webhooks.api.urls")),
    path("api/ledger/", include("ledger.urls")),
    path("api/", include("payments.api.urls")),
]

# A refused page is a console page that says why (mpesa_payouts/errors.py).
handler403 = "mpesa_payouts.errors.permission_denied"
