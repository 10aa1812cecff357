"""The dev server's defences: the Host/Origin guard on ``/cdn-cgi/``, body size and JSON depth limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cfwf_emulator import Emulator
from cfwf_emulator.server import API_ROOT
from cfwf_emulator.server.guard import MAX_BODY, MAX_DEPTH

W = "/workflows/demo-workflow"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8787", "localhost.evil.example", "127.0.0.2", "10.0.0.1"])
async def test_a_foreign_host_is_refused_on_every_cdn_cgi_path(emulator: Emulator, served: Any, host: str) -> None:
    async with served(emulator) as api:
        for method, path in (
            ("GET", API_ROOT + "/workflows"),
            ("OPTIONS", API_ROOT + "/workflows"),
            ("POST", API_ROOT + W + "/instances"),
            ("GET", API_ROOT),
            ("GET", "/cdn-cgi/local/explorer"),
        ):
            response = await api.client.request(method, api.url + path, headers={"Host": host})
            assert response.status_code == 403, (method, path)
            assert response.headers["content-type"].startswith("text/plain")
            assert response.text == "Invalid Host header"
        assert await api.ok("GET", W + "/instances") == []  # the refused create created nothing


@pytest.mark.parametrize("host", ["localhost", "localhost:8787", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:8787", "LOCALHOST"])
async def test_loopback_hosts_pass(emulator: Emulator, served: Any, host: str) -> None:
    async with served(emulator) as api:
        response = await api.client.get(api.url + API_ROOT + "/workflows", headers={"Host": host})
        assert response.status_code == 200


@pytest.mark.parametrize("origin", ["https://evil.example", "http://evil.example:8787", "null", "file://", "not a url"])
async def test_a_foreign_origin_cannot_drive_the_api(emulator: Emulator, served: Any, origin: str) -> None:
    async with served(emulator) as api:
        await api.ok("POST", W + "/instances", json={"id": "victim"})
        for method, path, body in (
            ("OPTIONS", W + "/instances/victim/status", None),
            ("PATCH", W + "/instances/victim/status", {"status": "terminate"}),
            ("DELETE", W + "/instances/victim", None),
            ("DELETE", W, None),
        ):
            response = await api.request(method, path, json=body, headers={"Origin": origin})
            assert response.status_code == 403, (method, path)
            assert response.text == "Invalid Origin header"
        assert (await api.ok("GET", W + "/instances/victim"))["status"] != "terminated"


async def test_loopback_origins_pass(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        for origin in ("http://localhost:8787", "https://127.0.0.1", "http://[::1]:3000"):
            response = await api.request("GET", "/workflows", headers={"Origin": origin})
            assert response.status_code == 200, origin


async def test_the_workers_own_paths_are_not_guarded(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        response = await api.client.get(api.url + "/hello", headers={"Host": "my-app.example", "Origin": "https://x.example"})
        assert response.status_code == 200
        assert response.text.startswith("hello from the worker")


async def test_an_oversized_body_is_refused_with_the_limit(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        body = json.dumps({"id": "big", "params": {"blob": "x" * MAX_BODY}}).encode()
        message = f"Request body too large: the limit is {MAX_BODY} bytes (16 MiB); send less"
        await api.fails("POST", W + "/instances", 413, 10001, message, content=body)

        async def chunks() -> Any:  # no Content-Length: the limit holds while reading
            for _ in range(17):
                yield b" " * (1024 * 1024)

        await api.fails("POST", W + "/instances", 413, 10001, message, content=chunks())
        assert await api.ok("GET", W + "/instances") == []


async def test_json_nested_deeper_than_the_limit_is_refused(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        deepest = {"id": "deep", "params": json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))}
        assert await api.ok("POST", W + "/instances", json=deepest) == {"id": "deep"}
        message = f"JSON request body nested too deeply: the limit is {MAX_DEPTH} levels of objects and arrays"
        too_deep = b'{"id": "deeper", "params": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}"
        await api.fails("POST", W + "/instances", 400, 10001, message, content=too_deep)
        huge = b"[" * 100_000 + b"]" * 100_000  # deeper than Python's parser can recurse
        await api.fails("POST", W + "/instances/deep/events/approve", 400, 10001, message, content=huge)
        await api.fails(
            "PATCH", W + "/instances/deep/status", 400, 10001, message,
            content=huge, headers={"content-type": "application/json"},
        )


async def test_no_request_path_reaches_the_filesystem(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        for path in ("/cdn-cgi/local/explorer/../../../etc/passwd", "/cdn-cgi/local/explorer/%2e%2e/%2e%2e/etc/passwd"):
            response = await api.client.get(api.url + path)
            assert "root:" not in response.text
        response = await api.request("GET", "/workflows/..%2F..%2Fetc%2Fpasswd")
        assert response.status_code == 404 and "root:" not in response.text
