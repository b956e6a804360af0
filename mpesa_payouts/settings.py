"""Settings, every one read from the environment with a safe local default.

`.env.example` lists each variable with a one-line comment. A `.env` file beside manage.py is read when
present; real environment variables win over it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def env_decimal(name: str, default: str) -> Decimal:
    """Money limits as Decimal (never float): django-environ has no decimal caster."""
    return Decimal(env.str(name, default=default))


# The development key: the production system check refuses it.
INSECURE_SECRET_KEY = "django-insecure-local-development-key-change-me"

# --- Core ------------------------------------------------------------------------------------------
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc as static files: /api/docs/ loads nothing from a CDN
    # The admin's second factor (docs/security.md): TOTP devices, backup codes, enrolment from a QR code.
    "django_otp",
    # The next two and axes under names a finance person reads in the sidebar (mpesa_payouts/apps.py).
    "mpesa_payouts.apps.AuthenticatorAppsConfig",
    "mpesa_payouts.apps.BackupCodesConfig",
    "two_factor",
    "mpesa_payouts.apps.SignInAttemptsConfig",  # failed-login throttling; last of the auth apps, as django-axes asks
    "payments",
    "notifications",
    "webhooks",
    "ledger",
]

MIDDLEWARE = [
    "mpesa_payouts.security.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "payments.second_factor.AdminSecondFactorMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lock-out page
]

# --- Browser security headers (docs/security.md, "Pages, exports and input") ----------------------------
# Scripts only from this site's own files: no inline script, no eval, no other origin, on every page (the
# admin, its confirmation pages, the API's browsable pages and /api/docs/, whose Swagger UI init script is
# a file too). Inline *styles* stay allowed: the admin's pages and Swagger UI set style attributes, and a
# style cannot run script.
CONTENT_SECURITY_POLICY = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'", "'unsafe-inline'"),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'", "data:"),
    "connect-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- HTTPS (on by default when MPESA_ENVIRONMENT=production: `check --deploy` then warns of nothing) ------
_PRODUCTION = env.str("MPESA_ENVIRONMENT", default="simulator") == "production"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_PRODUCTION)
# Plain-HTTP probes from inside the compose network (docker's health check) are not redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_PRODUCTION)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if _PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=_PRODUCTION)
# Behind a TLS proxy: the header it sets and the value meaning https, "HTTP_X_FORWARDED_PROTO,https" (the
# shipped compose file's proxy sets it). Only set it when every request comes through that proxy: a caller
# reaching the app directly could otherwise claim https.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if len(_proxy_ssl_header) == 2 else None

ROOT_URLCONF = "mpesa_payouts.urls"
WSGI_APPLICATION = "mpesa_payouts.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "notifications.views.inbox_count",  # the header's "Inbox (n unread)"
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# Workers and web processes keep their connection instead of reconnecting per request/task.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; wait for the lock instead of failing while the worker writes.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    # models.W040 at every start: SQLite ignores the INCLUDE columns of the payout indexes that make the daily
    # limits' sums index-only scans on PostgreSQL, and still builds each index on its keys. Nothing to fix
    # on a development database; PostgreSQL (where the check would mean something) never raises it.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Parameters bound by the server, so psycopg prepares a statement once it has run a few times on a
    # connection: the callback and send paths run the same dozen statements thousands of times, and parsing
    # and planning them anew was much of PostgreSQL's CPU per B2C result (the figure: bench/README.md). Turn off
    # behind a pooler that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options.setdefault("server_side_binding", True)
        options.setdefault("prepare_threshold", 5)  # Django's default (None) never prepares
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (the OAuth token is shared by every process through it) -------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # A file cache is still shared by the web server, the worker and beat on one machine.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Auth, i18n, static ----------------------------------------------------------------------------
# django-axes first: a locked-out user or address is refused before the password is even checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Second factor (TOTP) for "Payout approvers" and superusers in the admin, and a fresh code in X-OTP to approve
# or reject through the API. On by default in production; off for `make run`'s simulator (docs/security.md).
ADMIN_REQUIRE_2FA = env.bool("ADMIN_REQUIRE_2FA", default=_PRODUCTION)
LOGIN_URL = "two_factor:login"
LOGIN_REDIRECT_URL = "admin:index"
OTP_TOTP_ISSUER = "M-Pesa payouts"  # for devices a superuser makes in the admin (enrolment names the host)
TWO_FACTOR_QR_FACTORY = "qrcode.image.svg.SvgPathImage"  # rendered here, as SVG: no image service
# The admin keeps its own login page while the second factor is off; payments.second_factor sends it to the
# two-step login while it is on (the package would otherwise send everyone there, always).
TWO_FACTOR_PATCH_ADMIN = False
TWO_FACTOR_REMEMBER_COOKIE_AGE = None  # never skip the code on a "remembered" browser
# After a correct X-OTP, the same user's same token approves or rejects without a new code for this many
# minutes (kept server-side in the cache; 0: every API decision needs its own code). The admin asks the code
# once per sign-in.
SECOND_FACTOR_REAUTH_MINUTES = env.int("SECOND_FACTOR_REAUTH_MINUTES", default=5)
# Failed logins: lock a user name, and separately an address, after AXES_FAILURE_LIMIT failures, for
# AXES_COOLOFF_MINUTES (a superuser unlocks earlier with `python manage.py axes_reset_username NAME`).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "payments.login_audit.lockout_response"  # templates/axes/lockout.html, 429
AXES_USERNAME_FORM_FIELD = "username"
# The address as the callback allow-list sees it (CALLBACK_TRUSTED_PROXY_COUNT proxies in front).
AXES_CLIENT_IP_CALLABLE = "payments.callbacks.network.client_ip"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"  # works the same in tests, `make run`, production
AXES_VERBOSE = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "Africa/Nairobi"
# One date/time format on every console page (mpesa_payouts/formats/en/formats.py): "2 Dec 2026, 00:37".
FORMAT_MODULE_PATH = ["mpesa_payouts.formats"]
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- The console ---------------------------------------------------------------------------------
# The system's name: the title of every admin page.
SITE_NAME = env.str("SITE_NAME", default="M-Pesa payouts")
# Where the console's exports and uploaded statements (and their reports) are kept; the web and the worker
# must both reach it (one machine, or a shared volume).
CONSOLE_FILES_DIR = Path(env.str("CONSOLE_FILES_DIR", default=str(BASE_DIR / "var" / "console-files")))
# Largest statement file the console accepts, in megabytes.
CONSOLE_STATEMENT_MAX_MB = env.int("CONSOLE_STATEMENT_MAX_MB", default=200)
# A console job `running` this long without word from its worker (start or progress) is taken for one whose
# worker died: it is marked failed (ask again).
FINANCE_JOB_TIMEOUT_MINUTES = env.int("FINANCE_JOB_TIMEOUT_MINUTES", default=60)

# --- Celery --------------------------------------------------------------------------------------
# The default broker is a directory on disk: `make run` needs no server. Set CELERY_BROKER_URL to
# redis://127.0.0.1:6379/0 for anything real.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")
if CELERY_BROKER_URL == "filesystem://":
    # kombu warns "No hostname was supplied" at every start for the bare URL (an older .env has it); the
    # filesystem transport never uses the host, so name the one kombu would fall back to.
    CELERY_BROKER_URL = "filesystem://localhost//"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-processed"),
        "control_folder": str(VAR_DIR / "broker-control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
)
if CELERY_BROKER_URL.startswith("filesystem"):
    for _folder in ("broker", "broker-processed", "broker-control"):
        (VAR_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker whose broker goes away (Redis restarted, the network down) keeps trying to reconnect for as long
# as it takes, instead of giving up after Celery's default 100 attempts and exiting: nothing would be sent
# until a person restarted it. Keepalive and a periodic health check notice a dead connection.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {"socket_keepalive": True, "health_check_interval": 10, "retry_on_timeout": True}
    )
# Queues. The default one (`celery`) sends payouts, queries their status and reprocesses callbacks; what
# waits on someone else's server or runs for minutes has a queue of its own, consumed by a second worker
# (`-Q webhooks,notifications,finance`: docker-compose.yml's worker-side, `make run`), so a slow webhook
# receiver, WhatsApp or a long export never holds a thread a payout needs. Beat's entries and every
# apply_async are routed by task name here; no call names a queue itself. docs/architecture.md, "Queues".
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "webhooks.tasks.*": {"queue": "webhooks"},
    "notifications.tasks.*": {"queue": "notifications"},
    # The finance sweep stays on the default queue: it only reads rows, and it must run while a long job
    # holds the finance worker (it marks jobs whose worker died).
    "payments.tasks.run_finance_job": {"queue": "finance"},
    # The name check waits on Daraja's lookup; a payout send never waits behind it.
    "payments.tasks.check_payout_name": {"queue": "notifications"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Periodic work; each app adds its own entries below its own settings section.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}

# --- M-Pesa (Daraja) -------------------------------------------------------------------------------
MPESA_ENVIRONMENT = env.str("MPESA_ENVIRONMENT", default="simulator")
MPESA_HOSTS = {
    "simulator": "http://127.0.0.1:8001",
    "sandbox": "https://sandbox.safaricom.co.ke",
    "production": "https://api.safaricom.co.ke",
}
MPESA_BASE_URL = env.str("MPESA_BASE_URL", default="") or MPESA_HOSTS.get(MPESA_ENVIRONMENT, "")
MPESA_CONSUMER_KEY = env.str("MPESA_CONSUMER_KEY", default="")
MPESA_CONSUMER_SECRET = env.str("MPESA_CONSUMER_SECRET", default="")
MPESA_SHORTCODE = env.str("MPESA_SHORTCODE", default="")
MPESA_PASSKEY = env.str("MPESA_PASSKEY", default="")
MPESA_B2C_CONSUMER_KEY = env.str("MPESA_B2C_CONSUMER_KEY", default="") or MPESA_CONSUMER_KEY
MPESA_B2C_CONSUMER_SECRET = env.str("MPESA_B2C_CONSUMER_SECRET", default="") or MPESA_CONSUMER_SECRET
MPESA_B2C_SHORTCODE = env.str("MPESA_B2C_SHORTCODE", default="")
# Payout rails (docs/daraja.md, "Payout rails"): PartyA of paybill, till and Pochi payments (empty: the B2C
# shortcode), and the shortcode a float top-up moves money from, Working into the B2C Utility account (empty:
# the B2B shortcode).
MPESA_B2B_SHORTCODE = env.str("MPESA_B2B_SHORTCODE", default="")
MPESA_TOPUP_FROM_SHORTCODE = env.str("MPESA_TOPUP_FROM_SHORTCODE", default="")
# Look up each mobile, paybill and till payee's name at M-Pesa when a payout is requested (Hakikisha, Query Org
# Info) and show it to approvers beside ours (docs/name-check.md). Off by default: the lookups need the APIs
# enabled on the app.
MPESA_NAME_CHECK = env.bool("MPESA_NAME_CHECK", default=False)
MPESA_INITIATOR_NAME = env.str("MPESA_INITIATOR_NAME", default="")
MPESA_INITIATOR_PASSWORD = env.str("MPESA_INITIATOR_PASSWORD", default="")
MPESA_CERTIFICATE_PATH = env.str("MPESA_CERTIFICATE_PATH", default="")
MPESA_SECURITY_CREDENTIAL = env.str("MPESA_SECURITY_CREDENTIAL", default="")
MPESA_CONNECT_TIMEOUT = env.float("MPESA_CONNECT_TIMEOUT", default=5.0)
MPESA_READ_TIMEOUT = env.float("MPESA_READ_TIMEOUT", default=30.0)
# Keys for credentials kept in the admin and webhook signing secrets; comma-separated Fernet keys, newest first
# (rotation: `manage.py rotate_credential_key`).
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])

# --- Reconciliation -----------------------------------------------------------------------------------
# reconcile_statement reads a statement within these bounds, and refuses it (exit 2) beyond them: a zip
# bomb or a sheet claiming a million rows of 16,384 columns must not run for minutes (docs/reconciliation.md).
STATEMENT_MAX_ROWS = env.int("STATEMENT_MAX_ROWS", default=3_000_000)
# Uncompressed, all parts of the zip together: what the worker may hold while it reads an XLSX (the shared
# strings stay in memory whole). 64 MB is a year of a busy shortcode; bench/README.md "Statement memory".
STATEMENT_MAX_XLSX_MB = env.int("STATEMENT_MAX_XLSX_MB", default=64)
STATEMENT_MAX_SECONDS = env.float("STATEMENT_MAX_SECONDS", default=900.0)

# --- Callbacks ---------------------------------------------------------------------------------------
CALLBACK_BASE_URL = env.str("CALLBACK_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Secret the callback URL tokens are derived from; defaults to SECRET_KEY.
CALLBACK_TOKEN_SECRET = env.str("CALLBACK_TOKEN_SECRET", default="") or SECRET_KEY
# The Safaricom addresses circulated by integrators (docs/daraja.md, "Callback URLs").
SAFARICOM_CALLBACK_IPS = [
    "196.201.214.200",
    "196.201.214.206",
    "196.201.214.207",
    "196.201.214.208",
    "196.201.213.114",
    "196.201.213.44",
    "196.201.212.127",
    "196.201.212.128",
    "196.201.212.129",
    "196.201.212.132",
    "196.201.212.136",
    "196.201.212.138",
    "196.201.212.69",
    "196.201.212.74",
]
# The local simulator posts from loopback, so it is allowed by default only in the simulator environment.
_default_callback_ips = SAFARICOM_CALLBACK_IPS + (
    ["127.0.0.1", "::1"] if MPESA_ENVIRONMENT == "simulator" else []
)
CALLBACK_ALLOWED_IPS = env.list("CALLBACK_ALLOWED_IPS", default=_default_callback_ips)
# How many reverse proxies in front of us append to X-Forwarded-For (0: use the socket address).
CALLBACK_TRUSTED_PROXY_COUNT = env.int("CALLBACK_TRUSTED_PROXY_COUNT", default=0)
CALLBACK_MAX_BODY_BYTES = 64 * 1024
CALLBACK_LOG_FILE = env.str("CALLBACK_LOG_FILE", default="")
# Refused requests (bad address, unknown URL, too large) stored per source address per minute; beyond this they
# are counted in the log, not stored, so a flood cannot fill the database (0: store none).
CALLBACK_REJECTED_STORE_PER_MINUTE = env.int("CALLBACK_REJECTED_STORE_PER_MINUTE", default=60)
# A stored callback whose processing raised is retried by beat: first after this many seconds, doubling each
# attempt (capped at an hour), at most CALLBACK_REPROCESS_MAX_ATTEMPTS times; then it waits for a person
# (discrepancies list, admin, alert). A callback left `received` this long is retried too.
CALLBACK_REPROCESS_BACKOFF_SECONDS = env.int("CALLBACK_REPROCESS_BACKOFF_SECONDS", default=30)
CALLBACK_REPROCESS_MAX_ATTEMPTS = env.int("CALLBACK_REPROCESS_MAX_ATTEMPTS", default=6)
CALLBACK_REPROCESS_INTERVAL_SECONDS = env.int("CALLBACK_REPROCESS_INTERVAL_SECONDS", default=30)

# --- Payout rules -------------------------------------------------------------------------------------
PAYOUT_MIN_AMOUNT = env_decimal("PAYOUT_MIN_AMOUNT", "10")
PAYOUT_MAX_AMOUNT = env_decimal("PAYOUT_MAX_AMOUNT", "250000")
PAYOUT_DAILY_LIMIT = env_decimal("PAYOUT_DAILY_LIMIT", "1000000")
PAYOUT_RECIPIENT_DAILY_LIMIT = env_decimal("PAYOUT_RECIPIENT_DAILY_LIMIT", "500000")
# The default approval rule (when no rule of the console's "Approval rules" fits a request): two approvers at
# or above this amount, one below (docs/approval-rules.md).
PAYOUT_DUAL_APPROVAL_THRESHOLD = env_decimal("PAYOUT_DUAL_APPROVAL_THRESHOLD", "10000")
# A payout still waiting for its approvals this many minutes after it was requested is rejected as "expired"
# by the payout sweep (or `manage.py expire_payouts`); a refund's amount returns to its payment.
PAYOUT_APPROVAL_EXPIRY_MINUTES = env.int("PAYOUT_APPROVAL_EXPIRY_MINUTES", default=4320)
PAYOUTS_PAUSED = env.bool("PAYOUTS_PAUSED", default=False)
# The PAYOUT_* amounts above are for what leaves the B2C Utility account (`mobile` and `pochi` payouts). What
# leaves the Working account (`paybill`, `till`, `float_topup`, `reversal`) has its own limits.
B2B_PAYOUT_MIN_AMOUNT = env_decimal("B2B_PAYOUT_MIN_AMOUNT", "10")
B2B_PAYOUT_MAX_AMOUNT = env_decimal("B2B_PAYOUT_MAX_AMOUNT", "1000000")
B2B_DAILY_LIMIT = env_decimal("B2B_DAILY_LIMIT", "5000000")
B2B_RECIPIENT_DAILY_LIMIT = env_decimal("B2B_RECIPIENT_DAILY_LIMIT", "1000000")
FLOAT_TOPUP_MAX_AMOUNT = env_decimal("FLOAT_TOPUP_MAX_AMOUNT", "5000000")
# A payout `submitted` or `sending` this long without a result is checked with a status query.
PAYOUT_RESULT_DEADLINE_MINUTES = env.int("PAYOUT_RESULT_DEADLINE_MINUTES", default=15)
# Unanswered Transaction Status queries before a person must look.
PAYOUT_MAX_STATUS_QUERIES = env.int("PAYOUT_MAX_STATUS_QUERIES", default=3)
PAYOUT_STATUS_QUERY_INTERVAL_MINUTES = env.int("PAYOUT_STATUS_QUERY_INTERVAL_MINUTES", default=5)
PAYOUT_SWEEP_INTERVAL_SECONDS = env.int("PAYOUT_SWEEP_INTERVAL_SECONDS", default=60)
BALANCE_QUERY_INTERVAL_SECONDS = env.int("BALANCE_QUERY_INTERVAL_SECONDS", default=900)
LOW_BALANCE_THRESHOLD = env_decimal("LOW_BALANCE_THRESHOLD", "10000")
# At most one float reading per this many seconds is taken from B2C results (each result carries one).
FLOAT_FROM_RESULTS_INTERVAL_SECONDS = env.int("FLOAT_FROM_RESULTS_INTERVAL_SECONDS", default=60)
CELERY_BEAT_SCHEDULE["sweep-stuck-payouts"] = {
    "task": "payments.tasks.sweep_payouts",
    "schedule": float(PAYOUT_SWEEP_INTERVAL_SECONDS),
}
CELERY_BEAT_SCHEDULE["reprocess-callbacks"] = {
    "task": "payments.tasks.reprocess_callbacks",
    "schedule": float(CALLBACK_REPROCESS_INTERVAL_SECONDS),
}
CELERY_BEAT_SCHEDULE["sweep-finance-jobs"] = {
    "task": "payments.tasks.sweep_finance_jobs",
    "schedule": 60.0,
}
# Payout plans (docs/payout-plans.md): beat looks for due occurrences this often; a run is created at most
# this long after its time.
PAYOUT_PLANS_INTERVAL_SECONDS = env.int("PAYOUT_PLANS_INTERVAL_SECONDS", default=300)
CELERY_BEAT_SCHEDULE["run-payout-plans"] = {
    "task": "payments.tasks.run_payout_plans",
    "schedule": float(PAYOUT_PLANS_INTERVAL_SECONDS),
}
CELERY_BEAT_SCHEDULE["query-account-balance"] = {
    "task": "payments.tasks.query_account_balance",
    "schedule": float(BALANCE_QUERY_INTERVAL_SECONDS),
}

# --- Money in: Pull Transactions, C2B URL registration, STK Push Query (docs/money-in.md) -------------
# The C2B shortcode Pull asks about (empty: MPESA_SHORTCODE) and the number Safaricom registers it with.
MPESA_PULL_SHORTCODE = env.str("MPESA_PULL_SHORTCODE", default="")
MPESA_PULL_NOMINATED_NUMBER = env.str("MPESA_PULL_NOMINATED_NUMBER", default="")
MPESA_PULL_INTERVAL_MINUTES = env.int("MPESA_PULL_INTERVAL_MINUTES", default=60)
# `register_c2b_urls` calls /mpesa/c2b/<version>/registerurl: some integrators were told to use v1.
MPESA_C2B_REGISTER_VERSION = env.str("MPESA_C2B_REGISTER_VERSION", default="v2")
# A pending STK push is asked about this long after it was sent, at most STK_MAX_QUERIES times; a throttled
# query is asked again STK_QUERY_THROTTLE_SECONDS later. Beat looks for due pushes every
# STK_QUERY_INTERVAL_SECONDS.
STK_QUERY_AFTER_MINUTES = env.int("STK_QUERY_AFTER_MINUTES", default=3)
STK_MAX_QUERIES = env.int("STK_MAX_QUERIES", default=3)
STK_QUERY_THROTTLE_SECONDS = env.int("STK_QUERY_THROTTLE_SECONDS", default=120)
STK_QUERY_INTERVAL_SECONDS = env.int("STK_QUERY_INTERVAL_SECONDS", default=60)
CELERY_BEAT_SCHEDULE["pull-transactions"] = {
    "task": "payments.tasks.pull_transactions",
    "schedule": float(MPESA_PULL_INTERVAL_MINUTES * 60),
}
CELERY_BEAT_SCHEDULE["query-stk-pushes"] = {
    "task": "payments.tasks.query_stk_pushes",
    "schedule": float(STK_QUERY_INTERVAL_SECONDS),
}

# --- REST API -----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per user, by scope (core/api_throttles.py: counted per process while Redis is down).
    "DEFAULT_THROTTLE_RATES": {
        "payout_create": env.str("PAYOUT_CREATE_THROTTLE", default="60/min"),
        "funding_request": env.str("FUNDING_REQUEST_THROTTLE", default="10/min"),
        "webhook_manage": env.str("WEBHOOK_MANAGE_THROTTLE", default="30/min"),
        "console_job": env.str("CONSOLE_JOB_THROTTLE", default="10/min"),
    },
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "M-Pesa payouts API",
    "DESCRIPTION": "Refunds and B2C disbursements with four-eyes approval, and reconciliation data.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status` or `kind`: name each choice set after its own class.
    "ENUM_NAME_OVERRIDES": {
        "PaymentStatusEnum": "payments.models.PaymentStatus",
        "PayoutStatusEnum": "payments.models.PayoutStatus",
        "PayoutKindEnum": "payments.models.PayoutKind",
        "PayoutRailEnum": "payments.models.PayoutRail",
        "DisbursementRailEnum": "payments.payouts.rails.DISBURSEMENT_RAILS",
        "RecipientRailEnum": "payments.models.RECIPIENT_RAILS",
        "RecipientStatusEnum": "payments.models.RecipientStatus",
        "CallbackKindEnum": "payments.models.CallbackKind",
        "DiscrepancyKindEnum": "payments.selectors.DiscrepancyKind.ALL",
        "FundingKindEnum": "ledger.models.FundingKind",
        "FundingStatusEnum": "ledger.models.FundingStatus",
    },
}

# --- Logging ------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Callback URL tokens are masked in every line written (django.request names the path of each 4xx/5xx);
    # a refused page (403) is logged as one line, without a traceback (mpesa_payouts/errors.py).
    "filters": {
        "mask_callback_tokens": {"()": "payments.callbacks.masking.MaskCallbackTokens"},
        "no_refusal_traceback": {"()": "mpesa_payouts.errors.NoTracebackForRefusals"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_callback_tokens", "no_refusal_traceback"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "payments.callbacks": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.request": {"filters": ["mask_callback_tokens"]},
        # runserver's access log (`make run`): the request line names the path.
        "django.server": {
            "handlers": ["console"], "level": "INFO", "propagate": False, "filters": ["mask_callback_tokens"]
        },
    },
}
if CALLBACK_LOG_FILE:
    LOGGING["handlers"]["callback_file"] = {
        "class": "logging.handlers.WatchedFileHandler",
        "filename": CALLBACK_LOG_FILE,
        "formatter": "plain",
        "filters": ["mask_callback_tokens"],
    }
    LOGGING["loggers"]["payments.callbacks"]["handlers"].append("callback_file")

# --- Notifications ---------------------------------------------------------------------------------------
# Admin alerts (and, optionally, customer refund messages) over the WhatsApp Business Cloud API; see
# docs/notifications.md. `console` writes each message to the `notifications` log instead.
from celery.schedules import crontab  # noqa: E402  (kept in this section: only the daily summary uses it)

NOTIFICATIONS_BACKEND = env.str("NOTIFICATIONS_BACKEND", default="console")
WHATSAPP_API_URL = env.str("WHATSAPP_API_URL", default="https://graph.facebook.com/v23.0").rstrip("/")
WHATSAPP_ACCESS_TOKEN = env.str("WHATSAPP_ACCESS_TOKEN", default="")
WHATSAPP_PHONE_NUMBER_ID = env.str("WHATSAPP_PHONE_NUMBER_ID", default="")
WHATSAPP_CONNECT_TIMEOUT = env.float("WHATSAPP_CONNECT_TIMEOUT", default=5.0)
WHATSAPP_READ_TIMEOUT = env.float("WHATSAPP_READ_TIMEOUT", default=15.0)
# Approved templates per alert, "alert=template_name[:language]" comma-separated; alerts not named go as text.
WHATSAPP_TEMPLATES = env.dict("WHATSAPP_TEMPLATES", default={})
WHATSAPP_TEMPLATE_LANGUAGE = env.str("WHATSAPP_TEMPLATE_LANGUAGE", default="en")
# Numbers that receive every admin alert (E.164 or 2547...); recipients can also be managed in the admin.
ADMIN_WHATSAPP_NUMBERS = env.list("ADMIN_WHATSAPP_NUMBERS", default=[])
NOTIFY_CUSTOMERS = env.bool("NOTIFY_CUSTOMERS", default=False)
# Where the links in messages point (the admin's public origin); empty: CALLBACK_BASE_URL.
ADMIN_BASE_URL = env.str("ADMIN_BASE_URL", default="").rstrip("/")
NOTIFICATIONS_MAX_ATTEMPTS = env.int("NOTIFICATIONS_MAX_ATTEMPTS", default=8)
NOTIFICATIONS_RETRY_BASE_SECONDS = env.int("NOTIFICATIONS_RETRY_BASE_SECONDS", default=30)
NOTIFICATIONS_RETRY_MAX_SECONDS = env.int("NOTIFICATIONS_RETRY_MAX_SECONDS", default=3600)
# How long a worker's claim on a row lasts (must exceed the connect + read timeouts).
NOTIFICATIONS_CLAIM_SECONDS = env.int("NOTIFICATIONS_CLAIM_SECONDS", default=300)
# A pending row this many seconds past due is taken to have lost its task and is queued again.
NOTIFICATIONS_PICKUP_AFTER_SECONDS = env.int("NOTIFICATIONS_PICKUP_AFTER_SECONDS", default=120)
# After a message is queued, new ones within this many seconds are queued together at the end of it (0: each
# at once). A burst of results then costs a few broker messages a second instead of one per alert.
NOTIFICATIONS_QUEUE_WINDOW_SECONDS = env.float("NOTIFICATIONS_QUEUE_WINDOW_SECONDS", default=1.0)
LOW_BALANCE_ALERT_REPEAT_HOURS = env.int("LOW_BALANCE_ALERT_REPEAT_HOURS", default=6)
CALLBACK_REJECTION_ALERT_THRESHOLD = env.int("CALLBACK_REJECTION_ALERT_THRESHOLD", default=10)
CALLBACK_REJECTION_ALERT_WINDOW_MINUTES = env.int("CALLBACK_REJECTION_ALERT_WINDOW_MINUTES", default=5)
DAILY_SUMMARY_HOUR = env.int("DAILY_SUMMARY_HOUR", default=8)
CELERY_BEAT_SCHEDULE["notifications-deliver-pending"] = {
    "task": "notifications.tasks.deliver_pending",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["notifications-daily-summary"] = {
    "task": "notifications.tasks.send_daily_summary",
    # CELERY_TIMEZONE is Africa/Nairobi, so the hour is Nairobi time.
    "schedule": crontab(hour=DAILY_SUMMARY_HOUR, minute=0),
}

# --- Webhooks ------------------------------------------------------------------------------------------------
# Signed event deliveries to the business's own systems; see docs/webhooks.md.
# Hosts (names or IP addresses) an endpoint may use even though they resolve to a private, loopback or link-local
# address (a receiver on the business's own network, or on this machine under `make run`). In every environment:
# an internet-facing sandbox is as exposed as production.
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=3.0)
WEBHOOK_READ_TIMEOUT_SECONDS = env.float("WEBHOOK_READ_TIMEOUT_SECONDS", default=10.0)
# The most one attempt may take, connect to the last byte read: a receiver dripping its answer a byte at a
# time never trips the read timeout, which bounds each read only (webhooks/transport.py).
WEBHOOK_DELIVERY_DEADLINE_SECONDS = env.float("WEBHOOK_DELIVERY_DEADLINE_SECONDS", default=15.0)
# Retries: base * 2^(attempt-1) seconds (capped at the max), +-20% jitter, for this many hours after the event.
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=6 * 3600.0)
WEBHOOK_RETRY_FOR_HOURS = env.float("WEBHOOK_RETRY_FOR_HOURS", default=72.0)
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=20)
# A worker's claim on a delivery (must exceed WEBHOOK_DELIVERY_DEADLINE_SECONDS); a pending delivery this many
# seconds past due is taken to have lost its task and is queued again by the sweep, which runs this often.
WEBHOOK_CLAIM_SECONDS = env.int("WEBHOOK_CLAIM_SECONDS", default=120)
WEBHOOK_PICKUP_AFTER_SECONDS = env.int("WEBHOOK_PICKUP_AFTER_SECONDS", default=60)
WEBHOOK_SWEEP_INTERVAL_SECONDS = env.int("WEBHOOK_SWEEP_INTERVAL_SECONDS", default=30)
CELERY_BEAT_SCHEDULE["webhooks-deliver-pending"] = {
    "task": "webhooks.tasks.deliver_pending_webhooks",
    "schedule": float(WEBHOOK_SWEEP_INTERVAL_SECONDS),
}

# --- Ledger (docs/ledger.md) ---------------------------------------------------------------------------
# A payout's money in payouts_in_flight longer than this is listed as a discrepancy and alerted.
PAYOUT_IN_FLIGHT_ALERT_HOURS = env.int("PAYOUT_IN_FLIGHT_ALERT_HOURS", default=24)
# A float reading further than this from the ledger's mpesa_utility (allowing for what is in flight) alerts.
FLOAT_DRIFT_ALERT_KES = env_decimal("FLOAT_DRIFT_ALERT_KES", "100")
# Completed disbursements by CommandID (or payout kind) -> ledger account code; unmapped: `disbursements`.
# e.g. LEDGER_DISBURSEMENT_ACCOUNTS=SalaryPayment=salaries,PromotionPayment=promotions
LEDGER_DISBURSEMENT_ACCOUNTS: dict[str, str] = env.dict("LEDGER_DISBURSEMENT_ACCOUNTS", default={})
CELERY_BEAT_SCHEDULE["ledger-in-flight-check"] = {
    "task": "ledger.tasks.check_in_flight",
    "schedule": 3600.0,
}
