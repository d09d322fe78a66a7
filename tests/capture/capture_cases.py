"""Shared values of the capture tests."""

from datetime import UTC, date, datetime

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
ANCHOR = date(2026, 3, 2)

NIHSS_7 = {
    "1a": 0,
    "1b": 1,
    "1c": 0,
    "2": 0,
    "3": 0,
    "4": 1,
    "5a": 2,
    "5b": 0,
    "6a": 2,
    "6b": 0,
    "7": 0,
    "8": 1,
    "9": 0,
    "10": 0,
    "11": 0,
}
