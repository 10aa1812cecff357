"""``GET /cfwf/events``: the engine's event stream as server-sent events (our extension).

Query: ``workflow``, ``instance_id``, ``types`` (comma-separated event types) and ``cursor`` (an
event id: only later events of each instance), all optional. Each event is sent as::

    id: <workflow>/<instance_id>/<id>
    event: <type>
    data: <the event as JSON>

first the history of the instances selected, then live events; a comment line every
:data:`HEARTBEAT_S` seconds keeps idle connections open. The subscription is closed when the
client goes away or the server stops (:meth:`EventFeed.close`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..emulator import Emulator
from ..engine.stream import InstanceEvent
from ..errors import ConfigError, WorkflowError
from .envelope import INVALID, NOT_FOUND, ApiError

__all__ = ["HEARTBEAT_S", "EventFeed", "EventStreamResponse", "format_event"]

#: Seconds between heartbeat comments on an idle stream.
HEARTBEAT_S = 15.0


def format_event(event: InstanceEvent) -> bytes:
    """One event in the ``text/event-stream`` format."""
    data = json.dumps(event, separators=(",", ":"))
    head = f"id: {event['workflow']}/{event['instance_id']}/{event['id']}\nevent: {event['type']}\n"
    return f"{head}data: {data}\n\n".encode()


class EventStreamResponse(Response):
    """A ``text/event-stream`` response over an event iterator, closed on disconnect or on ``stopping``."""

    media_type = "text/event-stream"

    def __init__(self, events: Any, stopping: asyncio.Event, heartbeat_s: float = HEARTBEAT_S) -> None:
        super().__init__(headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.events = events
        self.stopping = stopping
        self.heartbeat_s = heartbeat_s
        self.raw_headers = [(name, value) for name, value in self.raw_headers if name != b"content-length"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        gone = asyncio.ensure_future(_disconnected(receive))
        stop = asyncio.ensure_future(self.stopping.wait())
        following: asyncio.Future[InstanceEvent] | None = None
        try:
            await send({"type": "http.response.body", "body": b": cfwf event stream\n\n", "more_body": True})
            while True:
                if following is None:
                    following = asyncio.ensure_future(self.events.__anext__())
                done, _ = await asyncio.wait({following, gone, stop}, timeout=self.heartbeat_s,
                                             return_when=asyncio.FIRST_COMPLETED)
                if gone in done or stop in done:
                    break
                chunk = b": heartbeat\n\n"
                if following in done:
                    try:
                        chunk = format_event(following.result())
                    except StopAsyncIteration:
                        break
                    following = None
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except OSError:
            pass  # the client went away while we wrote
        finally:
            for task in (following, gone, stop):
                if task is not None:
                    task.cancel()
            await self.events.aclose()
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _query(request: Request) -> dict[str, Any]:
    """The subscription's arguments from the query string, else ``400`` saying what to send."""
    query = request.query_params
    types = query.get("types")
    cursor_text = query.get("cursor")
    cursor = None
    if cursor_text is not None:
        if not cursor_text.isdigit():
            raise ApiError(400, INVALID, f"cursor: expected an event id (an integer, 0 or more), got {cursor_text!r}")
        cursor = int(cursor_text)
    return {
        "workflow": query.get("workflow") or None,
        "instance_id": query.get("instance_id") or None,
        "types": [kind.strip() for kind in types.split(",") if kind.strip()] if types else None,
        "cursor": cursor,
    }


class EventFeed:
    """The ``/cfwf/events`` handler, and the switch that ends every open stream."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.stopping = asyncio.Event()

    async def open(self, request: Request, params: dict[str, str]) -> Response:
        """``GET /cfwf/events``: a stream of the selected instances' events."""
        if self.stopping.is_set():
            raise ApiError(503, INVALID, "the dev server is stopping: reconnect once it is back")
        arguments = _query(request)
        try:
            events = self.emu.api.subscribe(**arguments)
        except WorkflowError as exc:
            raise ApiError(400, INVALID, f"WorkflowError: {exc}") from None
        except ConfigError:
            raise ApiError(404, NOT_FOUND, f"Workflow '{arguments['workflow']}' not found.") from None
        return EventStreamResponse(events, self.stopping)

    def close(self) -> None:
        """End every open stream (their clients see the response end); new ones are refused."""
        self.stopping.set()
