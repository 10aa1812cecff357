"""Clocks: the only source of time the engine reads.

:class:`RealClock` follows the wall clock. :class:`VirtualClock` stands still while anything can
run and is moved by the engine: it jumps to the next deadline when every instance is blocked on
an emulator timer, and passes at the real rate only while step callbacks wait for real I/O.
Neither reads ``time.time``/``datetime.now`` (which freezegun may patch); they use
``time.clock_gettime`` so user code frozen by freezegun cannot stop the engine's time.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Callable, Protocol, runtime_checkable

__all__ = ["EARLIEST_TIME_MS", "LATEST_TIME_MS", "Clock", "RealClock", "VirtualClock", "resolve_clock"]

#: 1970-01-01T00:00:00.000Z, the Unix epoch: the earliest time a virtual clock may start at.
EARLIEST_TIME_MS = 0.0
#: 9999-12-31T23:59:59.999Z: the last instant a ``datetime`` can show. No virtual clock starts or
#: moves later, and no sleep, event wait or retry delay may end later.
LATEST_TIME_MS = 253_402_300_799_999.0
_RANGE = "from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z"


def _wall_ms() -> float:
    if hasattr(time, "clock_gettime"):
        return time.clock_gettime(time.CLOCK_REALTIME) * 1000.0
    return time.time() * 1000.0  # pragma: no cover - platforms without clock_gettime


def _monotonic() -> float:
    if hasattr(time, "clock_gettime"):
        return time.clock_gettime(time.CLOCK_MONOTONIC)
    return time.monotonic()  # pragma: no cover - platforms without clock_gettime


@runtime_checkable
class Clock(Protocol):
    """What the engine needs from a clock: the current time, and whether it may be moved."""

    virtual: bool

    def now_ms(self) -> float:
        """Milliseconds since the Unix epoch."""
        ...


class RealClock:
    """Wall-clock time; sleeps and timeouts take as long as they say."""

    virtual = False

    def now_ms(self) -> float:
        """Milliseconds since the Unix epoch, from the system clock."""
        return _wall_ms()


class VirtualClock:
    """Time that only moves when the engine (or a test, through ``emu.advance``) moves it.

    ``start`` is the initial time (a ``datetime``, naive meaning UTC, or epoch milliseconds;
    default: the real time at creation). With ``autojump=True`` (default) the emulator jumps to
    the next timer as soon as nothing in the event loop can run, like trio's ``MockClock`` with
    ``autojump_threshold=0``; with ``autojump=False`` time moves only through ``advance``,
    ``run_until_idle`` and the testing API's waiters.
    """

    virtual = True

    def __init__(self, start: "datetime | float | None" = None, *, autojump: bool = True) -> None:
        if start is None:
            self._now = float(int(_wall_ms()))
        elif isinstance(start, datetime) or (isinstance(start, (int, float)) and not isinstance(start, bool)):
            self._now = _start_ms(start)
        else:
            raise TypeError(
                f"VirtualClock start must be a datetime (naive means UTC) or epoch milliseconds, "
                f"got {start!r}"
            )
        self.autojump = autojump
        #: Called with the new time (epoch ms) whenever the clock moves (freezegun integration).
        self.on_change: Callable[[float], None] | None = None

    _flow_since: float | None = None
    _flow_cap: float | None = None

    def now_ms(self) -> float:
        """The current virtual time, in milliseconds since the Unix epoch."""
        if self._flow_since is None:
            return self._now
        flowed = self._now + (_monotonic() - self._flow_since) * 1000.0
        return flowed if self._flow_cap is None else min(flowed, self._flow_cap)

    def jump_to(self, ms: float) -> None:
        """Move the clock forward to ``ms``; a time in the past leaves it where it is."""
        if not math.isfinite(ms):
            raise ValueError(f"the virtual clock cannot move to {ms!r}: pass a finite time in epoch ms")
        if ms > self.now_ms():
            self._now = ms
            if self._flow_since is not None:
                self._flow_since = _monotonic()
            if self.on_change is not None:
                self.on_change(ms)

    def start_flow(self, cap: float | None) -> None:
        """Let time pass at the real rate (a step callback awaits real I/O), never beyond ``cap``."""
        self._flow_since = _monotonic()
        self._flow_cap = cap

    def stop_flow(self) -> None:
        """Freeze the clock again where the real-rate flow brought it."""
        self._now = self.now_ms()
        self._flow_since = None
        self._flow_cap = None
        if self.on_change is not None:
            self.on_change(self._now)


def _start_ms(start: "datetime | float") -> float:
    """A virtual clock's start in epoch ms, or a ValueError naming the value and the range."""
    if isinstance(start, datetime):
        aware = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
        ms = aware.timestamp() * 1000.0
    else:
        try:
            ms = float(start)
        except OverflowError:  # an int too large for a float
            ms = math.inf
    if not EARLIEST_TIME_MS <= ms <= LATEST_TIME_MS:  # also NaN
        raise ValueError(
            f"VirtualClock start {start!r} is not a time the emulator can show: pass a datetime "
            f"{_RANGE} (naive means UTC), or epoch milliseconds from 0 to {LATEST_TIME_MS:.0f}"
        )
    return ms


def resolve_clock(value: "str | Clock | None") -> Clock:
    """``"real"`` (default), ``"virtual"`` or a :class:`Clock` instance."""
    if value is None or value == "real":
        return RealClock()
    if value == "virtual":
        return VirtualClock()
    if isinstance(value, Clock):
        return value
    from .errors import ConfigError

    raise ConfigError(f'clock must be "real", "virtual" or a Clock instance, got {value!r}')
