"""Text layouts wrangler uses: boxed tables, labelled values, local dates and rough durations."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone

__all__ = ["distance", "labelled", "local_time", "parse_iso", "table", "width"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def width(text: str) -> int:
    """How many terminal columns ``text`` takes (wide emoji count 2, colour codes 0)."""
    total = 0
    for char in _ANSI.sub("", text):
        if unicodedata.combining(char) or char in "\ufe0f\u200d":
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def _pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A boxed table with a rule between rows, as wrangler's ``logger.table`` draws it."""
    widths = [max([width(h)] + [width(row[i]) for row in rows]) for i, h in enumerate(headers)]

    def rule(left: str, middle: str, right: str) -> str:
        return left + middle.join("─" * (w + 2) for w in widths) + right

    def cells(values: list[str]) -> str:
        return "│" + "│".join(f" {_pad(v, w)} " for v, w in zip(values, widths)) + "│"

    lines = [rule("┌", "┬", "┐"), cells(headers)]
    for row in rows:
        lines += [rule("├", "┼", "┤"), cells(row)]
    lines.append(rule("└", "┴", "┘"))
    return "\n".join(lines)


def labelled(values: dict[str, str], indent: int = 0) -> str:
    """``Key:  value`` lines with the values aligned, each indented by ``indent`` spaces."""
    if not values:
        return ""
    column = max(len(key) for key in values) + 3
    return "\n".join(" " * indent + f"{key}:".ljust(column) + value for key, value in values.items())


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time (``...Z`` or with an offset) as an aware ``datetime``."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def local_time(text: str) -> str:
    """An ISO time as JavaScript's ``toLocaleString()`` shows it (en-US, local time zone):
    ``12/5/2026, 1:13:29 AM``."""
    moment = parse_iso(text).astimezone()
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment.month}/{moment.day}/{moment.year}, {hour}:{moment.minute:02d}:{moment.second:02d} {half}"


_UNITS = (("year", 365 * 86400.0), ("month", 30 * 86400.0), ("day", 86400.0), ("hour", 3600.0), ("minute", 60.0))


def distance(start: str, end: str | datetime) -> str:
    """The time between two moments in one rounded unit, as date-fns' ``formatDistanceStrict``
    (``0 seconds``, ``1 minute``, ``3 hours``)."""
    finish = end if isinstance(end, datetime) else parse_iso(end)
    seconds = abs((finish - parse_iso(start)).total_seconds())
    unit, size = "second", 1.0
    for name, length in _UNITS:
        if seconds >= length:
            unit, size = name, length
            break
    count = round(seconds / size)
    return f"{count} {unit}{'' if count == 1 else 's'}"
