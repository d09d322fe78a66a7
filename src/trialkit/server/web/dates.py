"""One way to write dates and times on every page: "14 Mar 2026" and "14 Mar 2026 09:30 UTC".

The date is written in the active language's DATE_FORMAT (trialkit/server/formats): "14 Mar 2026" in
English, "2026年3月14日" in Simplified Chinese; the clock (24-hour) and the zone name stay as they are.

Times are shown in the server's time zone (``TIME_ZONE``), always with its name, so a reader at
another site never has to guess. Date inputs keep ISO 8601 (``2026-03-14``) as browsers require.
"""

from __future__ import annotations

from datetime import date, datetime

from django.utils import timezone
from django.utils.formats import date_format

TIME_FORMAT = "%H:%M"


def format_date(value: date | datetime | None, empty: str = "—") -> str:
    if value is None or value == "":
        return empty
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
    return date_format(value, "DATE_FORMAT")


def format_datetime(value: datetime | None, empty: str = "—", seconds: bool = False) -> str:
    if value is None or value == "":
        return empty
    if not isinstance(value, datetime):
        return format_date(value, empty)
    if timezone.is_aware(value):
        value = timezone.localtime(value)
        zone = value.tzname() or ""
    else:
        zone = timezone.get_current_timezone_name()
    clock = value.strftime(TIME_FORMAT + (":%S" if seconds else ""))
    return f"{date_format(value.date(), 'DATE_FORMAT')} {clock} {zone}".strip()
