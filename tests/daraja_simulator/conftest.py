from __future__ import annotations

from collections.abc import Iterator

import pytest

from daraja.client import DarajaClient
from daraja_simulator import SimulatorKeys, SimulatorServer, SimulatorSettings
from tests.daraja_simulator.helpers import CallbackReceiver, make_client

FAST = SimulatorSettings(delay=0.05, slow_seconds=1.5, callback_timeout=2.0)


@pytest.fixture(scope="session")
def simulator_keys() -> SimulatorKeys:
    return SimulatorKeys.generate()  # RSA generation is the slow part: once per session


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def simulator(simulator_keys: SimulatorKeys) -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0, settings=FAST, keys=simulator_keys) as server:
        yield server


@pytest.fixture
def client(simulator: SimulatorServer) -> DarajaClient:
    return make_client(simulator)
