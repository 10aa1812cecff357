"""Workflows durations: ``"<number> <unit>[s]"`` strings or numbers of milliseconds.

Production accepts exactly the typed grammar ``${number} ${second|minute|...}${"s"|""}`` or a
number; the emulator rejects everything else (Cloudflare's local engine silently reads unknown
units such as ``"10 secs"`` as milliseconds, which hides bugs until deploy).
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

__all__ = ["UNIT_MS", "DurationError", "parse_duration", "parse_duration_or_timedelta"]

UNIT_MS: dict[str, float] = {
    "second": 1_000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 7 * 86_400_000,
    "month": 30 * 86_400_000,
    "year": 365.25 * 86_400_000,
}

_DURATION = re.compile(
    r"(?P<value>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?) "
    r"(?P<unit>second|minute|hour|day|week|month|year)s?\Z"
)

_HINT = (
    'expected a number of milliseconds or a string "<number> <unit>" with unit second, minute, '
    'hour, day, week, month or year (plural allowed), e.g. "30 seconds"'
)


class DurationError(ValueError):
    """A value is not a Workflows duration; the message names the value and the grammar."""


def parse_duration(value: object, *, what: str = "duration") -> float:
    """Return ``value`` in milliseconds, or raise :class:`DurationError` saying what is wrong.

    Numbers are milliseconds (``bool`` is refused). Negative or non-finite results are refused.
    """
    if isinstance(value, bool) or value is None:
        raise DurationError(f"Invalid {what} {value!r}: {_HINT}")
    if isinstance(value, (int, float)):
        ms = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise DurationError(f"Invalid {what} {value!r}: {_HINT}")
        ms = float(match.group("value")) * UNIT_MS[match.group("unit")]
    elif isinstance(value, timedelta):
        raise DurationError(
            f"Invalid {what} {value!r}: Cloudflare does not convert datetime.timedelta; "
            f'pass milliseconds ({value.total_seconds() * 1000:g}) or a string such as '
            f'"{value.total_seconds():g} seconds"'
        )
    else:
        raise DurationError(f"Invalid {what} {value!r} ({type(value).__name__}): {_HINT}")
    if math.isnan(ms) or math.isinf(ms) or ms < 0:
        raise DurationError(f"Invalid {what} {value!r}: it must be a finite, non-negative length")
    return ms


def parse_duration_or_timedelta(value: object, *, what: str = "duration") -> float:
    """Like :func:`parse_duration`, but also accept a ``timedelta`` (host-side APIs only)."""
    if isinstance(value, timedelta):
        ms = value.total_seconds() * 1000
        if ms < 0:
            raise DurationError(f"Invalid {what} {value!r}: it must not be negative")
        return ms
    return parse_duration(value, what=what)
