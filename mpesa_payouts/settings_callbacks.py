"""Settings of the callbacks service (mpesa_payouts/callbacks_wsgi.py): the console's settings, the same apps
and database, with only the URLs Safaricom posts to and a minimal middleware list.

Safaricom's callbacks need none of the console's middleware: no session, no login, no second factor, no
messages, no lock-out, no page headers. Run for every callback, that stack cost about 1 ms of CPU before any
work (bench/README.md, "Issue 32"). What the views check themselves stays: the source IP allow-list and the
URL token (payments/callbacks/views.py), the body size limit, storing the raw request before parsing it.
"""

from mpesa_payouts.settings import *  # noqa: F403

# SecurityMiddleware keeps the console's HTTPS rules (SECURE_SSL_REDIRECT, SECURE_PROXY_SSL_HEADER) for the
# callback URLs too; CommonMiddleware sets Content-Length (without it gunicorn answers chunked) and keeps the
# console's URL rules (APPEND_SLASH). The views are csrf_exempt and read no session and no user: nothing else.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

# The callback URLs and the health check; every console, API and login URL is a 404 here.
ROOT_URLCONF = "mpesa_payouts.urls_callbacks"
WSGI_APPLICATION = "mpesa_payouts.callbacks_wsgi.application"

# The admin and django-axes warn that their middleware is missing: on purpose, this service serves neither
# the console nor a login (`manage.py check --settings=mpesa_payouts.settings_callbacks` runs the rest).
# (The console's settings silence models.W040 on SQLite only: kept when set.)
SILENCED_SYSTEM_CHECKS = [
    *globals().get("SILENCED_SYSTEM_CHECKS", []),
    *("admin.E408", "admin.E409", "admin.E410", "axes.W002"),
]
