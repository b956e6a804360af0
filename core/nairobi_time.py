"""Kenya's clock, for every module that reads or writes a local time (Daraja's timestamps, statements, the
console's days). Kenya keeps no daylight saving, so a fixed offset is exact and cheaper than a zone lookup."""

from datetime import timedelta, timezone

NAIROBI = timezone(timedelta(hours=3), "EAT")
