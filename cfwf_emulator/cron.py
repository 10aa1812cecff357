"""Cloudflare cron expressions: parse exactly what Cloudflare accepts, and find their fire times.

Cloudflare's Cron Triggers (and Workflow ``schedules``) take five fields, in UTC, with its own
dialect (its ``saffron`` parser): minutes 0-59, hours 0-23, days of month 1-31 with ``L``,
``LW``, ``L-n``, ``L-nW`` and ``nW``, months 1-12 or ``JAN``-``DEC``, weekdays **1-7 with 1 =
Sunday** or ``SUN``-``SAT``, with ``L`` (alone: Saturday; ``nL``: the last such weekday of the
month) and ``n#k`` (the k-th such weekday, k 1-5). Lists, ranges (a range may wrap, ``FRI-MON``)
and steps (``*/15``, ``5/10``, ``10-40/5``) work in every field; no seconds, no ``?``, no
``@daily``. When both the day of month and the weekday are restricted, a day matching either
one matches (as in Vixie cron).

:func:`parse_cron` checks the text against that grammar; :class:`CronExpression` finds fire
times, walking minutes, hours and months with :mod:`cronsim` and matching days by the rules above.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from cronsim import CronSim

__all__ = ["MAX_CRON_LENGTH", "CronExpression", "parse_cron"]

#: The longest cron expression Cloudflare accepts for a Workflow schedule.
MAX_CRON_LENGTH = 256

_MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
_WEEKDAYS = "SUN MON TUE WED THU FRI SAT".split()
# Cloudflare's weekday numbers (1 = Sunday) -> Python's date.weekday() (0 = Monday)
_PY_WEEKDAY = {n: (n + 5) % 7 for n in range(1, 8)}
_SEARCH_DAYS = 366 * 30  # every valid expression fires within 28 years (a leap-day weekday)


class _Syntax(ValueError):
    pass


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()

    def value(self, text: str) -> int:
        upper = text.upper()
        if upper in self.names:
            return self.names.index(upper) + self.low
        if not re.fullmatch(r"[0-9]+", text):
            raise _Syntax(f"{self.name}: {text!r} is not a number{self._names_hint()}")
        number = int(text)
        if not self.low <= number <= self.high:
            raise _Syntax(f"{self.name}: {number} is out of range {self.low}-{self.high}")
        return number

    def step(self, text: str) -> int:
        if not re.fullmatch(r"[0-9]+", text) or not 1 <= int(text) <= self.high:
            raise _Syntax(f"{self.name}: step {text!r} must be a number from 1 to {self.high}")
        return int(text)

    def _names_hint(self) -> str:
        return f" or one of {'/'.join(self.names)}" if self.names else ""

    def cycle(self, start: int, end: int, step: int) -> set[int]:
        """``start`` to ``end`` every ``step``, wrapping past the top when ``start > end``."""
        order = list(range(start, self.high + 1)) + list(range(self.low, end + 1)) if start > end else list(
            range(start, end + 1)
        )
        return set(order[::step])

    def item(self, text: str) -> set[int]:
        """One element of a list: ``v``, ``*`` (the lowest value), ``a-b``, ``a/s``, ``a-b/s``."""
        match = re.fullmatch(r"([^-/]+)(?:-([^-/]+))?(?:/([^-/]+))?", text)
        if match is None:
            raise _Syntax(f"{self.name}: {text!r} is not a value, a range or a step")
        first, last, step = match.groups()
        start = self.low if first == "*" else self.value(first)
        if last is None and step is None:
            return {start}
        end = self.high if last is None else self.value(last)
        return self.cycle(start, end, 1 if step is None else self.step(step))

    def many(self, text: str) -> set[int] | None:
        """A whole field of the plain kind: None for ``*``, else the set of values."""
        if text == "*":
            return None
        head, *tail = text.split(",")
        if head.startswith("*") and not head.startswith("*/"):
            raise _Syntax(f"{self.name}: {text!r}: a field starting with * is * alone or */step")
        values = self.cycle(self.low, self.high, self.step(head[2:])) if head.startswith("*/") else self.item(head)
        for part in tail:
            values |= self.item(part)
        return values


_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DAY = _Field("day of month", 1, 31)
_MONTH = _Field("month", 1, 12, tuple(_MONTHS))
_WEEKDAY = _Field("weekday", 1, 7, tuple(_WEEKDAYS))

_DayRule = Callable[[int, int, int], bool]  # (year, month, day) -> matches


def _days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _weekday(year: int, month: int, day: int) -> int:
    return calendar.weekday(year, month, day)  # 0 = Monday


def _closest_weekday(target: int) -> _DayRule:
    """``nW``: the weekday closest to day ``target`` within the month (saffron's rule, which
    names no day of a month too short for ``target`` unless the month ends on a Friday)."""

    def rule(year: int, month: int, day: int) -> bool:
        weekday = _weekday(year, month, day)
        return (
            (weekday < 5 and day == target)
            or (weekday == 0 and day - 1 == target)  # target is a Sunday
            or (weekday == 0 and day == 3 and target == 1)  # the 1st is a Saturday
            or (weekday == 4 and day + 1 == target)  # target is a Saturday
            or (weekday == 4 and day + 2 == target == _days_in(year, month))  # the last day is a Sunday
        )

    return rule


def _last_weekday(offset: int) -> _DayRule:
    """``LW`` (offset 0) or ``L-nW``: the weekday closest to the last day less ``offset`` (saffron's rule)."""

    def rule(year: int, month: int, day: int) -> bool:
        weekday, last = _weekday(year, month, day), _days_in(year, month)
        if offset == 0:
            return (weekday < 5 and day == last) or (weekday == 4 and last - day < 3)
        shifted = day + offset
        return (
            (weekday < 5 and shifted == last)
            or (weekday == 0 and last <= shifted < last + 3)
            or (weekday == 4 and shifted + 1 == last)
        )

    return rule


def _day_rule(text: str) -> tuple[_DayRule | None, int]:
    """The day-of-month field: its rule (None for ``*``) and the earliest day it can name."""
    if text == "L":
        return (lambda y, m, d: d == _days_in(y, m)), 28
    if text == "LW":
        return _last_weekday(0), 26
    special = re.fullmatch(r"L-(\d+)(W?)", text)
    if special is not None:
        offset = int(special.group(1))
        if not 1 <= offset <= 30:
            raise _Syntax(f"day of month: the offset in {text!r} must be from 1 to 30")
        if special.group(2):
            return _last_weekday(offset), offset + 1
        return (lambda y, m, d: d == _days_in(y, m) - offset), offset + 1
    nearest = re.fullmatch(r"(\d+)W", text)
    if nearest is not None:
        target = _DAY.value(nearest.group(1))
        return _closest_weekday(target), min(target, 28)
    days = _DAY.many(text)
    if days is None:
        return None, 1
    return (lambda y, m, d: d in days), min(days)


def _weekday_rule(text: str) -> _DayRule | None:
    """The weekday field: its rule, or None for ``*``."""
    if text == "L":
        return lambda y, m, d: _weekday(y, m, d) == 5  # alone, L is Saturday
    last = re.fullmatch(r"([^-/,#]+)L", text)
    if last is not None:
        wanted = _PY_WEEKDAY[_WEEKDAY.value(last.group(1))]
        return lambda y, m, d: _weekday(y, m, d) == wanted and d + 7 > _days_in(y, m)
    nth = re.fullmatch(r"([^-/,#]+)#(\d+)", text)
    if nth is not None:
        wanted = _PY_WEEKDAY[_WEEKDAY.value(nth.group(1))]
        if not 1 <= int(nth.group(2)) <= 5:
            raise _Syntax(f"weekday: the 'nth' in {text!r} must be from 1 to 5")
        index = int(nth.group(2))
        return lambda y, m, d: _weekday(y, m, d) == wanted and (d - 1) // 7 + 1 == index
    days = _WEEKDAY.many(text)
    if days is None:
        return None
    wanted_set = {_PY_WEEKDAY[n] for n in days}
    return lambda y, m, d: _weekday(y, m, d) in wanted_set


def _csv(values: set[int] | None) -> str:
    return "*" if values is None else ",".join(map(str, sorted(values)))


class CronExpression:
    """A parsed Cloudflare cron expression (see the module docstring for the dialect).

    ``text`` is the expression as written; :meth:`next_after` gives the first fire time after a
    moment, :meth:`matches` whether a minute is one.
    """

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise ValueError(f"a cron expression is a str such as \"0 * * * *\", got {text!r}")
        if len(text) > MAX_CRON_LENGTH:
            raise ValueError(
                f"invalid cron expression {text[:40]!r}...: {len(text)} characters; Cloudflare allows at most "
                f"{MAX_CRON_LENGTH}"
            )
        fields = re.split(r"[ \t]+", text)
        if text != text.strip(" \t") or len(fields) != 5 or not text:
            raise ValueError(
                f"invalid cron expression {text!r}: Cloudflare takes exactly five fields (minute hour "
                'day-of-month month weekday) separated by spaces, such as "*/15 * * * *"; no seconds'
            )
        try:
            minutes, hours, months = _MINUTE.many(fields[0]), _HOUR.many(fields[1]), _MONTH.many(fields[3])
            self._dom, earliest_day = _day_rule(fields[2])
            self._dow = _weekday_rule(fields[4])
        except _Syntax as exc:
            raise ValueError(f"invalid cron expression {text!r}: {exc}") from None
        if self._dow is None and earliest_day > max(_days_in(2024, m) for m in (months or range(1, 13))):
            raise ValueError(
                f"invalid cron expression {text!r}: it never fires (no month it names has day {earliest_day})"
            )
        self.text = text
        self._walk = f"{_csv(minutes)} {_csv(hours)} * {_csv(months)} *"

    def __repr__(self) -> str:
        return f"CronExpression({self.text!r})"

    def _day_matches(self, year: int, month: int, day: int) -> bool:
        dom, dow = self._dom, self._dow
        if dom is None:
            return dow is None or dow(year, month, day)
        if dow is None:
            return dom(year, month, day)
        return dom(year, month, day) or dow(year, month, day)

    def next_after(self, ms: float) -> float:
        """The first fire time strictly after ``ms`` (epoch milliseconds), in epoch milliseconds."""
        moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).replace(tzinfo=None)
        start = moment.replace(second=0, microsecond=0)  # cronsim yields whole minutes after it
        limit = moment + timedelta(days=_SEARCH_DAYS)
        while True:
            candidate = next(CronSim(self._walk, start))
            if candidate > limit:
                raise ValueError(f"cron expression {self.text!r} does not fire before {limit}")
            if self._day_matches(candidate.year, candidate.month, candidate.day):
                return candidate.replace(tzinfo=timezone.utc).timestamp() * 1000
            start = datetime(candidate.year, candidate.month, candidate.day) + timedelta(days=1, seconds=-1)

    def matches(self, ms: float) -> bool:
        """Whether ``ms`` (epoch milliseconds) is a fire time: a whole minute the expression names."""
        return self.next_after(ms - 1) == ms


def parse_cron(text: object) -> CronExpression:
    """``text`` as a :class:`CronExpression`; ``ValueError`` saying what is wrong otherwise."""
    return CronExpression(text)  # type: ignore[arg-type]  # the constructor checks the type
