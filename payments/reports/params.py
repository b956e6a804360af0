"""What a report is asked for: `start` and `end` (Nairobi dates, both included) and `group` (day, week or month).
The API and the console page read their query strings here, so both refuse the same things with the same words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from core.errors import ApplicationError
from core.nairobi_time import NAIROBI

GROUPS = ("day", "week", "month")
MAX_DAYS = 366
EXPORT_FORMATS = ("csv", "xlsx")
SHOWN = 40  # how much of a bad value a refusal quotes back
# Dates outside these are no payout's: refused before they reach date arithmetic (year 1 or 9999 overflow it).
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


class ReportParamsInvalid(ApplicationError):
    """A query parameter of a report that cannot be used; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ReportPeriod:
    start: date
    end: date  # included
    group: str

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=NAIROBI)

    @property
    def ends_before(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=NAIROBI)

    def query(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "group": self.group}


def _date(field: str, text: str | None, default: date) -> date:
    if text is None or text.strip() == "":
        return default
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ReportParamsInvalid(field, f"{field} must be a date written YYYY-MM-DD, not {text[:SHOWN]!r}.") from None
    if not EARLIEST <= day <= LATEST:
        raise ReportParamsInvalid(field, f"{field} must be between {EARLIEST} and {LATEST}.")
    return day


def report_period(*, start: str | None, end: str | None, group: str | None, today: date) -> ReportPeriod:
    """The period asked for; without `start`, the first of this month; without `end`, today; without `group`,
    by day. Raises ReportParamsInvalid (a 400) naming the field."""
    first = _date("start", start, today.replace(day=1))
    last = _date("end", end, today)
    group = (group or "day").strip()
    if group not in GROUPS:
        raise ReportParamsInvalid("group", f"group must be one of day, week or month, not {group[:SHOWN]!r}.")
    if last < first:
        raise ReportParamsInvalid("end", f"end ({last}) is before start ({first}).")
    if (last - first).days + 1 > MAX_DAYS:
        raise ReportParamsInvalid("end", f"A report covers at most {MAX_DAYS} days: ask for a shorter range.")
    return ReportPeriod(start=first, end=last, group=group)


def export_format(text: str | None) -> str | None:
    """`csv`, `xlsx`, or None for JSON (or the page); anything else is a 400 naming `export`."""
    if text is not None and text not in EXPORT_FORMATS:
        raise ReportParamsInvalid("export", f"export must be csv or xlsx, not {text[:SHOWN]!r}.")
    return text
