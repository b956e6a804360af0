import pytest

# Under CI=true a skipped browser test fails the run (tests/ci_gate.py).
pytest_plugins = ["tests.ci_gate", "tests.clock"]


def pytest_report_header(config):
    from tests import settings as test_settings

    db = "PostgreSQL 127.0.0.1:5432" if test_settings.USING_POSTGRES else "SQLite (PostgreSQL not reachable)"
    redis = "Redis 127.0.0.1:6379" if test_settings.REDIS_AVAILABLE else "no Redis (redis tests skipped)"
    return [f"database: {db}; {redis}"]


def pytest_collection_modifyitems(config, items):
    from tests import settings as test_settings

    skip_pg = pytest.mark.skip(reason="PostgreSQL is not reachable on 127.0.0.1:5432")
    skip_redis = pytest.mark.skip(reason="Redis is not reachable on 127.0.0.1:6379")
    for item in items:
        if "postgres" in item.keywords and not test_settings.USING_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not test_settings.REDIS_AVAILABLE:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _isolated_cache():
    from django.core.cache import cache

    from notifications.outbox import doorbell
    from notifications.recipients import recipient_rows
    from payments.callbacks.handlers.b2c import forget_local_throttles
    from payments.daraja_client import forget_clients

    def forget():
        cache.clear()
        forget_local_throttles()
        doorbell.reset()
        recipient_rows.forget()
        forget_clients()  # the Daraja client holds its OAuth token in memory

    forget()
    yield
    forget()
