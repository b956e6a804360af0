from __future__ import annotations

import pytest
import responses

from daraja.client import DarajaClient
from tests.daraja.helpers import FakeCache, FakeClock, make_config


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock: FakeClock) -> FakeCache:
    return FakeCache(clock)


@pytest.fixture
def client(cache: FakeCache, clock: FakeClock) -> DarajaClient:
    return DarajaClient(make_config(), cache, clock=clock)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps
