"""How the console writes dates and times (FORMAT_MODULE_PATH): one format on every page, in local time
(TIME_ZONE, Africa/Nairobi), the same one core.console_kit.when() writes: "2 Dec 2026, 00:37"."""

DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
