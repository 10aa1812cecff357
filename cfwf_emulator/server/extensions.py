"""Our extensions of the Local Explorer API, under ``/cfwf/`` (relative to the API root).

Cloudflare's API has nothing for them; the dashboard uses them, and they are guarded like the rest:

- ``GET /cfwf/clock``: ``{kind: "virtual"|"real", now, autojump}`` (``autojump`` null on the real clock);
- ``POST /cfwf/clock/advance`` with ``{"duration": "1 hour"}`` (a Workflows duration or milliseconds):
  move virtual time forward and run what falls due; answers the clock;
- ``POST /cfwf/clock/next-timer``: jump to the earliest pending timer; the clock with ``advanced``
  (false when no timer was pending);
- ``POST /cfwf/clock/run-until-idle``: jump from timer to timer until no instance can progress;
- ``GET /cfwf/crons``: the project's cron triggers (``triggers.crons`` and each workflow's
  ``schedules``) with their next fire time on the emulator's clock, and whether they fire;
- ``GET /cfwf/events``: the engine's event stream as server-sent events (:mod:`.events`).

The clock controls need ``--clock virtual``: on the real clock they answer ``400`` saying so.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..clock import VirtualClock
from ..cron import parse_cron
from ..emulator import Emulator
from ..serialization import iso_from_ms
from .events import EventFeed
from .explorer import Handler
from .envelope import INVALID, ApiError, success
from .guard import parse_json, read_body

__all__ = ["Extensions"]

_REAL_CLOCK = (
    "this dev server runs on the real clock, which only moves by itself: "
    "start it with --clock virtual to advance time from here"
)


class Extensions:
    """The ``/cfwf/`` routes, bound to one emulator."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.events = EventFeed(emu)
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "/cfwf/clock"): self.clock,
            ("POST", "/cfwf/clock/advance"): self.advance,
            ("POST", "/cfwf/clock/next-timer"): self.next_timer,
            ("POST", "/cfwf/clock/run-until-idle"): self.run_until_idle,
            ("GET", "/cfwf/crons"): self.crons,
            ("GET", "/cfwf/events"): self.events.open,
        }

    def route(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        """The handler for ``method`` on ``path`` (relative to the API root) and its (no) parameters."""
        handler = self.routes.get((method, path))
        return None if handler is None else (handler, {})

    def _clock_state(self, **extra: Any) -> Response:
        clock = self.emu.clock
        virtual = isinstance(clock, VirtualClock)
        return success({
            "kind": "virtual" if virtual else "real",
            "now": iso_from_ms(clock.now_ms()),
            "autojump": clock.autojump if isinstance(clock, VirtualClock) else None,
            **extra,
        })

    def _need_virtual(self) -> None:
        if not isinstance(self.emu.clock, VirtualClock):
            raise ApiError(400, INVALID, _REAL_CLOCK)

    async def clock(self, request: Request, params: dict[str, str]) -> Response:
        """``GET /cfwf/clock``: which clock, and its time."""
        return self._clock_state()

    async def advance(self, request: Request, params: dict[str, str]) -> Response:
        """``POST /cfwf/clock/advance``: move virtual time by ``duration``."""
        self._need_virtual()
        body = await read_body(request)
        data = parse_json(body) if body.strip() else None
        duration = data.get("duration") if isinstance(data, dict) else None
        if duration is None or isinstance(duration, bool) or not isinstance(duration, (str, int, float)):
            raise ApiError(
                400, INVALID, 'Send {"duration": "1 hour"}: a Workflows duration ("90 seconds", "2 days") or milliseconds'
            )
        try:
            await self.emu.advance(duration)
        except ValueError as exc:
            raise ApiError(400, INVALID, f"duration: {exc}") from None
        return self._clock_state()

    async def next_timer(self, request: Request, params: dict[str, str]) -> Response:
        """``POST /cfwf/clock/next-timer``: jump to the earliest pending timer, if any."""
        self._need_virtual()
        advanced = await self.emu.advance_to_next_timer()
        return self._clock_state(advanced=advanced)

    async def run_until_idle(self, request: Request, params: dict[str, str]) -> Response:
        """``POST /cfwf/clock/run-until-idle``: run until nothing can progress without input."""
        self._need_virtual()
        await self.emu.run_until_idle()
        return self._clock_state()

    async def crons(self, request: Request, params: dict[str, str]) -> Response:
        """``GET /cfwf/crons``: ``[{cron, workflow, next}]``; ``workflow`` null for the Worker's own."""
        project = self.emu.project
        now = self.emu.clock.now_ms()
        rows: list[dict[str, Any]] = []
        if project is not None:
            pairs = [(text, None) for text in project.crons]
            pairs += [(text, wf.name) for wf in project.workflows for text in wf.schedules]
            for text, workflow in pairs:
                rows.append({"cron": text, "workflow": workflow, "next": iso_from_ms(parse_cron(text).next_after(now))})
        return success(rows, {"count": len(rows), "firing": self.emu.crons})
