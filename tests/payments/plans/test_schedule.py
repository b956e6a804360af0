"""The schedule math at its edges: a weekday's own day before and after its time, a month's last day standing
for the 29th-31st, February of a leap year and of an ordinary one, and the year's turn. Pure functions: the
instant is passed in."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from payments.plans.schedule import NAIROBI, Schedule, latest_occurrence, next_occurrences, schedule_words

MONDAY_9 = Schedule("weekly", time(9, 0), weekday=0)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NAIROBI)


def monthly(day: int, hour: int = 17) -> Schedule:
    return Schedule("monthly", time(hour, 0), day_of_month=day)


@pytest.mark.parametrize(("now", "expected"), [
    ("2026-12-14 09:00", date(2026, 12, 14)),  # a Monday, exactly at its time
    ("2026-12-14 08:59", date(2026, 12, 7)),  # the Monday before its time: last week's
    ("2026-12-13 23:59", date(2026, 12, 7)),  # Sunday night
    ("2026-12-16 12:00", date(2026, 12, 14)),  # Wednesday
])
def test_the_latest_weekly_occurrence(now, expected):
    assert latest_occurrence(MONDAY_9, at(now)) == expected


def test_a_utc_instant_is_read_in_nairobi():
    # 06:00 UTC on Monday is 09:00 in Nairobi: that Monday's occurrence is due.
    assert latest_occurrence(MONDAY_9, datetime.fromisoformat("2026-12-14T06:00:00+00:00")) == date(2026, 12, 14)
    assert latest_occurrence(MONDAY_9, datetime.fromisoformat("2026-12-14T05:59:00+00:00")) == date(2026, 12, 7)


@pytest.mark.parametrize(("day", "now", "expected"), [
    (31, "2026-04-30 17:00", date(2026, 4, 30)),  # April has 30 days: the 31st is its last day
    (31, "2026-04-30 16:59", date(2026, 3, 31)),
    (30, "2027-02-28 17:00", date(2027, 2, 28)),  # an ordinary February
    (29, "2028-02-28 17:00", date(2028, 1, 29)),  # a leap year: the 29th exists, so the 28th is not it
    (29, "2028-02-29 17:00", date(2028, 2, 29)),
    (25, "2027-01-10 12:00", date(2026, 12, 25)),  # across the year's turn
    (1, "2027-01-01 17:00", date(2027, 1, 1)),
])
def test_the_latest_monthly_occurrence(day, now, expected):
    assert latest_occurrence(monthly(day), at(now)) == expected


def test_the_next_weekly_occurrences_are_strictly_after_now():
    found = next_occurrences(MONDAY_9, at("2026-12-14 09:00"), 3)
    assert [x.isoformat() for x in found] == [
        "2026-12-21T09:00:00+03:00", "2026-12-28T09:00:00+03:00", "2027-01-04T09:00:00+03:00"]


def test_the_next_monthly_occurrences_take_each_months_last_day():
    found = next_occurrences(monthly(31), at("2027-01-31 17:00"), 3)
    assert [x.date() for x in found] == [date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]


def test_the_schedule_in_words():
    assert schedule_words(MONDAY_9) == "Every Monday at 09:00 (Nairobi)"
    assert schedule_words(monthly(25)) == "Monthly on the 25th at 17:00 (Nairobi)"
    assert schedule_words(monthly(31)) == "Monthly on the 31st (or the month's last day) at 17:00 (Nairobi)"
    assert schedule_words(Schedule("monthly", time(8, 5), day_of_month=2)) == "Monthly on the 2nd at 08:05 (Nairobi)"
