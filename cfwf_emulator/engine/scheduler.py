"""Timers, idle detection and the virtual-time driver.

Every wait the engine makes on time (sleeps, retry delays, step and event timeouts) is a
:class:`Timer` here. With a real clock the timers are armed on the event loop. With a virtual
clock nothing fires until a driver decides to move time: ``advance``, ``run_until_idle``, a
testing waiter, or the background autojumper, each of which jumps to the next deadline once the
event loop is quiet (the engine's work stopped moving, see :func:`_yield_until_quiet`) and no step
callback is busy.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable

from ..clock import Clock, VirtualClock

__all__ = ["Scheduler", "Timer"]


class Timer:
    """A callback due at ``deadline`` (epoch ms); ``cancel()`` makes it never fire."""

    __slots__ = ("deadline", "seq", "callback", "cancelled")

    def __init__(self, deadline: float, seq: int, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Stop this timer from firing (it stays in the heap until it reaches the top, without
        its callback: what that holds, a finished run's task say, need not wait for it)."""
        self.cancelled = True
        self.callback = _never



def _never() -> None:
    """A cancelled timer's callback."""


#: A timer in a heap: ``(deadline, seq, timer)``, ordered by the tuple's own comparison (in C; a
#: ``Timer.__lt__`` in Python cost a call per comparison, 17 per pop among 100,000 sleepers).
_Entry = tuple[float, int, Timer]


#: Turns of the event loop in a row without a progress mark before the loop counts as quiet. The
#: longest chain of callbacks between two of the engine's marks is a group commit handing its
#: outcome to the run waiting for it: 4 turns (tests/test_idle_detection.py and the concurrent
#: steps of tests/projects/workerd-workflow-entrypoint fail below 5).
QUIET_TURNS = 12


async def _yield_until_quiet(scheduler: "Scheduler", give_up: Callable[[], bool] = lambda: False) -> bool:
    """Let the loop run until the engine's work stops moving: :data:`QUIET_TURNS` turns of the
    event loop in a row without a progress mark (``scheduler.progress``).

    asyncio has no public way to ask whether callbacks are ready to run, so the engine marks
    progress itself wherever its flows move on (a run resuming from a wait, an instance task
    starting or ending, a step callback ending, timers firing); what it cannot see (user code
    awaiting outside a step) has the quiet turns to run; a step callback counts as busy until it
    ends. Returns False when ``give_up()`` became true first. Drivers hold the scheduler's driver
    lock, and the autojumper gives up as soon as a driver appears, so one task spins at a time.
    """
    quiet = 0
    while quiet < QUIET_TURNS:
        mark = scheduler.progress
        await asyncio.sleep(0)
        if give_up():
            return False
        quiet = quiet + 1 if scheduler.progress == mark else 0
    return True


def _top(heap: list[_Entry]) -> float | None:
    """The earliest live deadline of ``heap`` (dropping cancelled timers on top), or None."""
    while heap and heap[0][2].cancelled:
        heapq.heappop(heap)
    return heap[0][0] if heap else None


class Scheduler:
    """Owns the timers and the rule for when virtual time may move."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[_Entry] = []
        # "weak" timers (cron firings) never keep the emulator busy: idleness and virtual-time
        # jumps ignore them, but they fire, in deadline order, whenever the clock passes them
        self._weak: list[_Entry] = []
        self._seq = itertools.count()
        self.busy = 0
        #: Counts the engine's progress marks: bumped wherever work it runs moves on (see
        #: :func:`_yield_until_quiet`).
        self.progress = 0
        self._changed: asyncio.Event | None = None
        self._real_handle: asyncio.TimerHandle | None = None
        self._real_armed_at: float | None = None
        self._drivers = 0
        self._driver_lock = asyncio.Lock()
        self._autojumper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to ``loop``; start the autojumper when the clock is virtual with autojump."""
        self._loop = loop
        self._changed = asyncio.Event()
        self._driver_lock = asyncio.Lock()
        if isinstance(self.clock, VirtualClock) and self.clock.autojump:
            self._autojumper = loop.create_task(self._autojump(), name="cfwf-autojump")
        else:
            self._arm_real()

    async def stop(self) -> None:
        """Stop the autojumper and the real-time alarm; pending timers are kept."""
        if self._autojumper is not None:
            self._autojumper.cancel()
            try:
                await self._autojumper
            except asyncio.CancelledError:
                pass
            self._autojumper = None
        if self._real_handle is not None:
            self._real_handle.cancel()
            self._real_handle = None
            self._real_armed_at = None

    # -- timers ----------------------------------------------------------------------------

    def call_at(self, deadline: float, callback: Callable[[], None], *, weak: bool = False) -> Timer:
        """Run ``callback`` once the clock reaches ``deadline`` (epoch ms, finite).

        A ``weak`` timer is not pending work: :meth:`next_deadline` ignores it, so virtual time
        never jumps to it alone (except within :meth:`jump_to_next`'s ``limit``), yet it fires
        in order whenever the clock reaches it (cron firings).
        """
        if not math.isfinite(deadline):
            # one NaN in the heap breaks its order and every other instance's timers with it
            raise ValueError(f"a timer needs a finite deadline in epoch ms, got {deadline!r}")
        seq = next(self._seq)
        timer = Timer(deadline, seq, callback)
        heapq.heappush(self._weak if weak else self._heap, (deadline, seq, timer))
        if not self.clock.virtual and (
            self._real_armed_at is None or deadline < self._real_armed_at
        ):
            self._arm_real()
        self._notify()
        return timer

    def next_deadline(self, *, weak: bool = False) -> float | None:
        """The earliest pending deadline, or None when no timer is pending; weak timers count
        only with ``weak=True``."""
        if weak:
            return self._next_any()
        return _top(self._heap)

    def _next_any(self) -> float | None:
        deadlines = [d for d in (_top(self._heap), _top(self._weak)) if d is not None]
        return min(deadlines) if deadlines else None

    def fire_due(self) -> int:
        """Run every timer whose deadline has come, in deadline order; return how many ran."""
        now = self.clock.now_ms()
        fired = 0
        strong, weak = self._heap, self._weak
        while True:
            due = _top(strong)
            if due is not None and due > now:
                due = None
            weak_due = _top(weak) if weak else None
            from_weak = weak_due is not None and weak_due <= now and (due is None or weak[0] < strong[0])
            if not from_weak and due is None:
                return fired
            timer = heapq.heappop(weak if from_weak else strong)[2]
            timer.cancelled = True
            timer.callback()
            fired += 1
            if not from_weak:  # a cron firing is no progress: idleness ignores weak timers
                self.progress += 1

    def _arm_real(self) -> None:
        loop = self._loop
        if loop is None or self.clock.virtual:
            return
        if self._real_handle is not None:
            self._real_handle.cancel()
            self._real_handle = None
            self._real_armed_at = None
        deadline = self._next_any()
        if deadline is None:
            return
        delay = max(0.0, (deadline - self.clock.now_ms()) / 1000.0)
        self._real_armed_at = deadline
        self._real_handle = loop.call_later(delay, self._on_real_alarm)

    def _on_real_alarm(self) -> None:
        self._real_handle = None
        self._real_armed_at = None
        self.fire_due()
        self._arm_real()

    # -- activity --------------------------------------------------------------------------

    def enter_busy(self) -> None:
        """A step callback started: virtual time may not jump until it ends."""
        self.busy += 1

    def leave_busy(self) -> None:
        """A step callback ended."""
        self.busy -= 1
        self.progress += 1
        if self.busy == 0:
            self._notify()

    def _notify(self) -> None:
        changed = self._changed
        if changed is not None and not changed.is_set():
            changed.set()

    async def _wait_for_change(self, timeout_s: float | None) -> None:
        changed = self._changed
        assert changed is not None
        changed.clear()
        try:
            await asyncio.wait_for(changed.wait(), timeout_s)
        except asyncio.TimeoutError:
            pass

    # -- driving virtual time ----------------------------------------------------------------

    @asynccontextmanager
    async def driving(self) -> AsyncIterator[None]:
        """Be the one foreground driver of virtual time; the autojumper stands aside meanwhile."""
        self._drivers += 1
        try:
            async with self._driver_lock:
                yield
        finally:
            self._drivers -= 1
            self._notify()

    async def settle(self, limit: float | None = None) -> None:
        """Return once nothing in the loop is ready to run and no step callback is busy.

        While callbacks are busy with real I/O, virtual time passes at the real rate and timers
        that fall due meanwhile fire (so step timeouts still work around real awaits). With a
        ``limit`` (epoch ms), time flows no further than that: once the clock reaches it, this
        returns even if callbacks are still busy.
        """
        while True:
            await _yield_until_quiet(self)
            if self.busy == 0:
                return
            if limit is not None and self.clock.now_ms() >= limit:
                return
            await self._pass_real_time(limit)

    async def _pass_real_time(self, limit: float | None = None) -> None:
        deadline = self.next_deadline()
        if limit is not None:
            deadline = limit if deadline is None else min(deadline, limit)
        if not self.clock.virtual:
            await self._wait_for_change(None)
            return
        clock = self.clock
        assert isinstance(clock, VirtualClock)
        timeout = None if deadline is None else max(0.0, (deadline - clock.now_ms()) / 1000.0)
        clock.start_flow(deadline)
        try:
            await self._wait_for_change(timeout)
        finally:
            clock.stop_flow()
        if deadline is not None and timeout is not None and self.busy and clock.now_ms() < deadline:
            # the real wait ran its full length: the deadline has come (rounding aside)
            if self._changed is not None and not self._changed.is_set():
                clock.jump_to(deadline)
        self.fire_due()

    def jump_to_next(self, limit: float | None = None) -> bool:
        """Move the virtual clock to the next deadline (not past ``limit``) and fire what is due.

        Without ``limit`` only pending work moves time (a weak timer fires on the way to it);
        with one, weak timers up to ``limit`` count too (``advance`` fires the crons in its window).
        Returns False when no timer is due by ``limit``.
        """
        strong = self.next_deadline()
        if limit is None and strong is None:
            return False
        deadline = self._next_any()
        if deadline is None or (limit is not None and deadline > limit):
            return False
        assert isinstance(self.clock, VirtualClock)
        self.clock.jump_to(deadline)
        self.fire_due()
        return True

    async def _autojump(self) -> None:
        changed = self._changed
        assert changed is not None
        while True:
            if self._drivers or self.next_deadline() is None:
                changed.clear()
                await changed.wait()
                continue
            if not await _yield_until_quiet(self, lambda: self._drivers > 0):
                continue
            if self.busy:
                await self._pass_real_time()
                continue
            self.jump_to_next()
