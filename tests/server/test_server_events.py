"""``GET /cfwf/events``: the engine's event stream as server-sent events, over a real socket."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, AsyncIterator, MutableMapping

import httpx

from cfwf_emulator import Emulator
from cfwf_emulator.server import API_ROOT, serving
from cfwf_emulator.server.events import EventStreamResponse

from test_server_process import record_of, start, stop  # noqa: E402  (this directory is on sys.path)

EVENTS = API_ROOT + "/cfwf/events"
W = "/workflows/demo-workflow"


async def _read_events(lines: AsyncIterator[str], count: int) -> list[dict[str, Any]]:
    """The next ``count`` events of an SSE body (comments skipped), each as {id, event, data}."""
    found: list[dict[str, Any]] = []
    fields: dict[str, Any] = {}
    async for line in lines:
        if line.startswith(":"):
            continue
        if line == "":
            if fields:
                found.append(fields)
                fields = {}
                if len(found) == count:
                    return found
            continue
        name, _, value = line.partition(": ")
        fields[name] = json.loads(value) if name == "data" else value
    raise AssertionError(f"the stream ended after {found}")


async def _next(lines: AsyncIterator[str], count: int) -> list[dict[str, Any]]:
    return await asyncio.wait_for(_read_events(lines, count), timeout=10)


async def _until_status(lines: AsyncIterator[str], status: str) -> list[dict[str, Any]]:
    """Events up to the ``instance.status`` one whose new status is ``status``."""
    seen: list[dict[str, Any]] = []
    while not (seen and seen[-1]["event"] == "instance.status" and seen[-1]["data"]["data"]["new"] == status):
        seen += await _next(lines, 1)
    return seen


async def test_history_then_live_events_of_an_instance(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        await api.ok("POST", W + "/instances", json={"id": "e-1"})
        await emulator.settle()
        now = (await api.ok("GET", W + "/instances/e-1"))["status"]
        params = {"instance_id": "e-1", "types": "instance.created,instance.status"}
        async with api.client.stream("GET", api.url + EVENTS, params=params) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            history = await _until_status(lines, now)
            assert history[0]["event"] == "instance.created"
            assert {event["event"] for event in history[1:]} == {"instance.status"}
            first = history[0]
            assert first["id"] == f"demo-workflow/e-1/{first['data']['id']}"
            assert first["data"]["instance_id"] == "e-1" and first["data"]["workflow"] == "demo-workflow"
            await api.ok("PATCH", W + "/instances/e-1/status", json={"status": "terminate"})
            live = await _until_status(lines, "terminated")
            ids = [event["data"]["id"] for event in history + live]
            assert ids == sorted(set(ids))  # in order, none twice


async def test_the_type_filter_and_the_cursor(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        await api.ok("POST", W + "/instances", json={"id": "e-2"})
        await emulator.settle()
        now = (await api.ok("GET", W + "/instances/e-2"))["status"]
        params = {"instance_id": "e-2", "types": "instance.status"}
        async with api.client.stream("GET", api.url + EVENTS, params=params) as response:
            before = await _until_status(response.aiter_lines(), now)
        assert {event["event"] for event in before} == {"instance.status"}
        await api.ok("PATCH", W + "/instances/e-2/status", json={"status": "terminate"})
        after = {**params, "cursor": before[-1]["data"]["id"]}
        async with api.client.stream("GET", api.url + EVENTS, params=after) as response:
            [terminated] = await _next(response.aiter_lines(), 1)
        assert terminated["data"]["data"]["new"] == "terminated"


async def test_bad_arguments_are_400_in_the_envelope(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        response = await api.request("GET", "/cfwf/events", params={"types": "instance.nope"})
        assert response.status_code == 400
        body = response.json()
        assert body["success"] is False and body["errors"][0]["code"] == 10001
        assert "Unknown event type 'instance.nope'" in body["errors"][0]["message"]
        await api.fails(
            "GET", "/cfwf/events", 400, 10001, "cursor: expected an event id (an integer, 0 or more), got '-1'",
            params={"cursor": "-1"},
        )
        await api.fails("GET", "/cfwf/events", 404, 10501, "Workflow 'nope' not found.", params={"workflow": "nope"})


async def test_the_host_guard_applies(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        response = await api.client.get(api.url + EVENTS, headers={"Host": "evil.example"})
        assert response.status_code == 403 and response.text == "Invalid Host header"


async def test_closing_the_client_releases_the_subscription(emulator: Emulator, served: Any) -> None:
    stream = emulator.api.engine.stream
    async with served(emulator) as api:
        await api.ok("POST", W + "/instances", json={"id": "e-3"})
        async with api.client.stream("GET", api.url + EVENTS) as response:
            await _next(response.aiter_lines(), 1)
            assert stream.active
        for _ in range(200):  # the server notices the closed socket on its next read
            if not stream.active:
                break
            await asyncio.sleep(0.01)
        assert not stream.active


async def test_the_server_stops_with_a_stream_open(emulator: Emulator) -> None:
    async with emulator:
        async with httpx.AsyncClient(timeout=30) as client:
            server = serving(emulator, ip="127.0.0.1", port=0)
            url, _ = await server.__aenter__()
            async with client.stream("GET", url + EVENTS) as response:
                lines = response.aiter_lines()
                assert await asyncio.wait_for(lines.__anext__(), timeout=10) == ": cfwf event stream"
                await asyncio.wait_for(server.__aexit__(None, None, None), timeout=10)  # does not wait on the stream
                rest = await asyncio.wait_for(_rest(lines), timeout=10)
        assert rest == [""]  # the response ended cleanly
        assert not emulator.api.engine.stream.active


async def _rest(lines: AsyncIterator[str]) -> list[str]:
    return [line async for line in lines]


class _Quiet:
    """An event iterator with nothing to say, which records being closed."""

    def __init__(self) -> None:
        self.closed = False

    async def __anext__(self) -> Any:
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        self.closed = True


async def test_an_idle_stream_sends_heartbeats_until_the_client_leaves() -> None:
    events, leave = _Quiet(), asyncio.Event()
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)
        if message.get("body") == b": heartbeat\n\n" and len(sent) == 4:
            leave.set()

    response = EventStreamResponse(events, asyncio.Event(), heartbeat_s=0.01)
    await asyncio.wait_for(response({"type": "http"}, receive, send), timeout=10)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in sent[0]["headers"]
    bodies = [message["body"] for message in sent[1:]]
    assert bodies[0] == b": cfwf event stream\n\n" and bodies[-1] == b""
    assert len(bodies) >= 4 and set(bodies[1:-1]) == {b": heartbeat\n\n"}
    assert sent[-1]["more_body"] is False and events.closed


def test_sigterm_with_a_stream_open_exits_0_promptly(project: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    process = start(project, state)
    record = record_of(process, state)
    with httpx.Client(timeout=30) as client:
        with client.stream("GET", record["url"] + EVENTS) as response:
            lines = response.iter_lines()
            assert next(lines) == ": cfwf event stream"
            began = time.monotonic()
            code, out, err = stop(process)
            assert code == 0, err
            assert time.monotonic() - began < 10  # the open stream did not hold the server up
            assert list(lines) == [""]  # and its response ended cleanly
    assert out.rstrip().endswith("[cfwf] stopped; state saved")
