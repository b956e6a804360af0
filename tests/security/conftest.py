"""The running-system fixtures of tests/e2e and tests/integration, reused as they are (importing a fixture
into a conftest makes it available to the tests below it)."""

from tests.e2e.conftest import e2e_redis, e2e_worker, private_redis  # noqa: F401
from tests.integration.conftest import (  # noqa: F401
    callback_base_url,
    live_daraja,
    simulator,
    simulator_keys,
    simulator_settings,
)
