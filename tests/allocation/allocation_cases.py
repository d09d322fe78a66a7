"""Shared values of the allocation tests."""

from datetime import datetime, timezone

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
