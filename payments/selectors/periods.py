"""Finance periods in Nairobi time: a day's start, the dates a report may ask for, a range of dates."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import (
    Q,
)

from core.nairobi_time import NAIROBI

# Finance reads every time in Nairobi time, whatever the server's zone.
ZERO = Decimal("0.00")


def nairobi_day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=NAIROBI)


# Dates a report may ask for: the day after 9999-12-31 does not exist, and nothing of ours predates 2000.
EARLIEST_REPORT_DATE = date(2000, 1, 1)
LATEST_REPORT_DATE = date(9998, 12, 31)


def report_date_problem(value: date) -> str:
    """Why `value` cannot bound a report ("" when it can): nairobi_range of 9999-12-31 would overflow."""
    if EARLIEST_REPORT_DATE <= value <= LATEST_REPORT_DATE:
        return ""
    return f"Give a date between {EARLIEST_REPORT_DATE.isoformat()} and {LATEST_REPORT_DATE.isoformat()}."


def nairobi_range(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """[start 00:00, the day after end 00:00) in Nairobi time: both dates are inclusive."""
    return (
        nairobi_day_start(start) if start else None,
        nairobi_day_start(end + timedelta(days=1)) if end else None,
    )


def in_range(field: str, start: datetime | None, end: datetime | None) -> Q:
    q = Q()
    if start is not None:
        q &= Q(**{f"{field}__gte": start})
    if end is not None:
        q &= Q(**{f"{field}__lt": end})
    return q
