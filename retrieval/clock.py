"""The time scheduled features read: one callable, injected, so tests move it instead of sleeping.

Follows, conversations, votes, digests and the bot's schedules all take a :data:`Clock`; in
production it is :func:`utc_now`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, as an aware UTC datetime (the default clock)."""
    return datetime.now(UTC)
