"""Fixtures for the payments tests that talk to a fake Daraja (tests/fake_daraja.py)."""

from __future__ import annotations

import pytest

from tests import fake_daraja


@pytest.fixture
def fake_daraja_settings(settings):
    fake_daraja.configure(settings)
    return settings


@pytest.fixture
def daraja(fake_daraja_settings):
    with fake_daraja.answering() as mock:
        yield mock
