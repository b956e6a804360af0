"""A plan's schedule as dates and moments: weekly on a weekday (0 = Monday ... 6 = Sunday) or monthly on a day
of the month (1-31; a day past the month's end means its last day: the 31st is 30 April and 28 or 29 February),
at a Nairobi time of day. Pure functions: no database, the clock passed in."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NAIROBI = ZoneInfo("Africa/Nairobi")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Schedule:
    frequency: str  # "weekly" or "monthly"
    time_of_day: time
    weekday: int | None = None
    day_of_month: int | None = None

    @classmethod
    def of(cls, plan) -> Schedule:
        return cls(frequency=plan.frequency, time_of_day=plan.time_of_day, weekday=plan.weekday,
                   day_of_month=plan.day_of_month)


def moment(day: date, at: time) -> datetime:
    """The aware datetime of a Nairobi date and time."""
    return datetime.combine(day, at, tzinfo=NAIROBI)


def _month_day(year: int, month: int, day_of_month: int) -> date:
    return date(year, month, min(day_of_month, calendar.monthrange(year, month)[1]))


def _previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def latest_occurrence(schedule: Schedule, now: datetime) -> date:
    """The date of the latest occurrence whose moment is at or before `now`."""
    local = now.astimezone(NAIROBI)
    if schedule.frequency == "weekly":
        day = local.date() - timedelta(days=(local.weekday() - schedule.weekday) % 7)
        if moment(day, schedule.time_of_day) > local:
            day -= timedelta(days=7)
        return day
    year, month = local.year, local.month
    day = _month_day(year, month, schedule.day_of_month)
    if moment(day, schedule.time_of_day) > local:
        day = _month_day(*_previous_month(year, month), schedule.day_of_month)
    return day


def next_occurrences(schedule: Schedule, now: datetime, count: int = 3) -> list[datetime]:
    """The next `count` occurrence moments strictly after `now` (Nairobi, aware)."""
    local = now.astimezone(NAIROBI)
    found: list[datetime] = []
    if schedule.frequency == "weekly":
        day = local.date() + timedelta(days=(schedule.weekday - local.weekday()) % 7)
        while len(found) < count:
            at = moment(day, schedule.time_of_day)
            if at > local:
                found.append(at)
            day += timedelta(days=7)
        return found
    year, month = local.year, local.month
    while len(found) < count:
        at = moment(_month_day(year, month, schedule.day_of_month), schedule.time_of_day)
        if at > local:
            found.append(at)
        year, month = _next_month(year, month)
    return found


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def schedule_words(schedule: Schedule) -> str:
    """"Every Monday at 09:00 (Nairobi)", "Monthly on the 25th at 17:00 (Nairobi)"."""
    at = schedule.time_of_day.strftime("%H:%M")
    if schedule.frequency == "weekly":
        return f"Every {WEEKDAYS[schedule.weekday]} at {at} (Nairobi)"
    last = " (or the month's last day)" if schedule.day_of_month > 28 else ""
    return f"Monthly on the {_ordinal(schedule.day_of_month)}{last} at {at} (Nairobi)"
