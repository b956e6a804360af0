"""Test settings: real PostgreSQL and Redis on this machine when they answer, SQLite and local memory when
not (the tests that need the real thing are then skipped, with the reason printed in the header)."""

import os
import socket


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


PG_URL = "postgres://postgres@127.0.0.1:5432/test"
if "DATABASE_URL" not in os.environ and os.environ.get("TEST_SQLITE") != "1" and _reachable("127.0.0.1", 5432):
    os.environ["DATABASE_URL"] = PG_URL
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_AVAILABLE = _reachable("127.0.0.1", 6379)
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("MPESA_ENVIRONMENT", "simulator")

from mpesa_payouts.settings import *  # noqa: E402,F403
from mpesa_payouts.settings import DATABASES  # noqa: E402

DATABASES["default"]["CONN_MAX_AGE"] = 0
# One database per test run, so parallel runs on one machine never fight over it.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DB_NAME", f"test_mpesa_payouts_{os.getpid()}")}
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECRET_KEY = "tests-only-secret-key-not-for-production-000000000000"
CALLBACK_TOKEN_SECRET = SECRET_KEY
CALLBACK_BASE_URL = "https://payouts.example.co.ke"
# Each new notification queued at once, so a test sees its delivery task; the coalescing has its own tests.
NOTIFICATIONS_QUEUE_WINDOW_SECONDS = 0
# Every test posts from 127.0.0.1 into one shared local cache: the per-address store limit for refused requests
# would carry over from test to test. Its own tests (tests/security/test_rejected_flood.py) set it.
CALLBACK_REJECTED_STORE_PER_MINUTE = 1_000_000
# The SSRF guard is on in every environment: the tests' webhook receivers listen on loopback, as `make run`'s do.
WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
