"""Shared values of the allocation tests."""

from datetime import UTC, datetime

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
