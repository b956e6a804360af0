"""Fixtures for the payments tests: a fake Daraja (tests/fake_daraja.py), and the two people of the four-eyes
stories: rita requests, alan approves."""

from __future__ import annotations

import pytest

from tests import fake_daraja
from tests.factories import make_approver, make_requester


@pytest.fixture
def fake_daraja_settings(settings):
    fake_daraja.configure(settings)
    return settings


@pytest.fixture
def daraja(fake_daraja_settings):
    with fake_daraja.answering() as mock:
        yield mock


@pytest.fixture
def rita():
    """A payout requester."""
    return make_requester("rita")


@pytest.fixture
def alan():
    """A payout approver, another person than rita."""
    return make_approver("alan")
