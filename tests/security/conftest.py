"""A real gunicorn (deploy/gunicorn.conf.py, access log on) on the test database, for the attack replays that
must see what the web server itself writes and refuses; and the running-system fixtures of tests/e2e and
tests/integration, reused as they are (importing a fixture into a conftest makes it available below it)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from django.conf import settings as django_settings

from tests.e2e.conftest import e2e_redis, e2e_worker, private_redis, web_server  # noqa: F401 - fixtures
from tests.e2e.support import WebServer, free_port
from tests.integration.conftest import (  # noqa: F401 - fixtures, reused as they are
    callback_base_url,
    live_daraja,
    simulator,
    simulator_keys,
    simulator_settings,
    subprocess_database_url,
)


def web_environment(port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mpesa_payouts.settings",
            "DATABASE_URL": subprocess_database_url(),
            "CELERY_BROKER_URL": "memory://",
            "MPESA_ENVIRONMENT": "simulator",
            "CALLBACK_BASE_URL": f"http://127.0.0.1:{port}",
            "CALLBACK_ALLOWED_IPS": "127.0.0.1",
            "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECRET_KEY": django_settings.SECRET_KEY,
            "CALLBACK_TOKEN_SECRET": django_settings.CALLBACK_TOKEN_SECRET,
            "NOTIFICATIONS_BACKEND": "console",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@pytest.fixture
def gunicorn(web_server) -> Callable[..., WebServer]:  # noqa: F811
    """`start(**env)`: gunicorn on a free port with the deployment's config, the test database and `env`."""

    def start(**extra: str) -> WebServer:
        port = free_port()
        return web_server(web_environment(port, **extra), port=port, workers=1, threads=4)

    return start
