"""A fixed clock for every test that reads the date or the hour.

`clock` (a fixture) runs a test once at each instant in `INSTANTS`: the ones that have broken date arithmetic
before (a Monday morning, the first minutes of a Nairobi day while UTC is still on the day before, the last
day of a month and of a year, the first minutes of a new year). The clock ticks from the instant, so timeouts
and expiries still advance. A test that needs one exact moment uses `travel_to(...)`.

`pytest --clock NAME` (one run per instant) moves every in-process test to that instant: the sweep that finds a
test which passes only on some days. Tests that start real processes keep the real clock, since their servers
and workers cannot travel with them: the end-to-end and integration folders, and any test marked `real_clock`
(e.g. a real worker would see a payout planted "two minutes ago" by a test at 08:30 as hours in the future).
"""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine

INSTANTS: dict[str, str] = {
    # 08:30 on a Monday: "today" and "this week" start at the same midnight.
    "monday-morning": "2026-12-07T08:30:00+03:00",
    # 00:05 in Nairobi on a Monday is 21:05 UTC on the Sunday: a date taken in UTC is the wrong day.
    "after-nairobi-midnight": "2026-12-07T00:05:00+03:00",
    # 23:50 in Nairobi on the last day of a month and a year (a Thursday).
    "month-end-late": "2026-12-31T23:50:00+03:00",
    # 00:10 on New Year's day in Nairobi: UTC is still on the 31st.
    "new-month-early": "2027-01-01T00:10:00+03:00",
    # An ordinary Wednesday noon.
    "midweek-noon": "2026-12-09T12:00:00+03:00",
}

REAL_CLOCK_FOLDERS = ("e2e", "integration")


def instant(name: str) -> datetime:
    return datetime.fromisoformat(INSTANTS[name])


def travel_to(when: str | datetime, *, tick: bool = True):
    """A context manager (and decorator) that runs at `when` (an ISO string with its offset, or a datetime)."""
    destination = datetime.fromisoformat(when) if isinstance(when, str) else when
    return time_machine.travel(destination, tick=tick)


@pytest.fixture(params=list(INSTANTS))
def clock(request):
    """Runs the test at each instant in INSTANTS; yields the traveller (`clock.shift(...)` moves on)."""
    with travel_to(INSTANTS[request.param]) as traveller:
        yield traveller


def pytest_addoption(parser):
    parser.addoption(
        "--clock",
        default=None,
        choices=sorted(INSTANTS),
        help="run every in-process test at this instant (tests/clock.py), to find tests that pass only on some days",
    )


def _keeps_real_clock(item) -> bool:
    return (
        any(part in REAL_CLOCK_FOLDERS for part in item.path.parts)
        or "clock" in item.fixturenames
        or item.get_closest_marker("real_clock") is not None
    )


@pytest.fixture(autouse=True)
def _suite_clock(request):
    name = request.config.getoption("--clock")
    if name is None or _keeps_real_clock(request.node):
        yield
        return
    with travel_to(INSTANTS[name]):
        yield
