"""The Local Explorer API (workflows part) served by the dev server, over real loopback sockets.

Each test asserts the answers of ``shared/spec/local-explorer-api.md``: envelopes, status codes,
error codes and texts, paging and filters.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import Emulator, VirtualClock

W = "/workflows/demo-workflow"
EIGHT = ("queued", "running", "paused", "errored", "terminated", "complete", "waitingForPause", "waiting")


async def test_workflows_are_listed_in_configuration_order_with_a_count(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        response = await api.request("GET", "/workflows")
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "success": True, "errors": [], "messages": [],
            "result": [
                {"name": "demo-workflow", "class_name": "DemoWorkflow", "script_name": "demo-service"},
                {"name": "other-workflow", "class_name": "OtherWorkflow", "script_name": "demo-service"},
            ],
            "result_info": {"count": 2},
        }


async def test_a_workflow_shows_all_eight_status_counts(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        assert await api.ok("GET", W) == {
            "name": "demo-workflow", "class_name": "DemoWorkflow", "script_name": "demo-service",
            "instances": {status: 0 for status in EIGHT},
        }
        await api.ok("POST", W + "/instances", json={"id": "a"})
        await emulator.settle()
        counts = (await api.ok("GET", W))["instances"]
        assert sum(counts.values()) == 1 and set(counts) == set(EIGHT)


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/workflows/nope"),
        ("DELETE", "/workflows/nope"),
        ("GET", "/workflows/nope/instances"),
        ("POST", "/workflows/nope/instances"),
        ("POST", "/workflows/nope/instances/batch/delete"),
        ("GET", "/workflows/nope/instances/x"),
        ("DELETE", "/workflows/nope/instances/x"),
        ("PATCH", "/workflows/nope/instances/x/status"),
        ("POST", "/workflows/nope/instances/x/events/approve"),
    ],
)
async def test_an_unknown_workflow_is_404_on_every_route(emulator: Emulator, served: Any, method: str, path: str) -> None:
    async with served(emulator) as api:
        await api.fails(method, path, 404, 10501, "Workflow 'nope' not found.")


async def test_create_with_id_and_params_then_describe(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        assert await api.ok("POST", W + "/instances", json={"id": "cli-1", "params": {"who": "ada"}}) == {"id": "cli-1"}
        await emulator.settle()
        details = await api.ok("GET", W + "/instances/cli-1")
        assert details["status"] in ("running", "waiting")  # asleep in "nap"
        assert details["params"] == {"who": "ada"}
        assert details["output"] is None and details["error"] is None and details["end"] is None
        assert details["steps"][0]["name"] in ("flaky", "flaky-1")


async def test_create_without_a_body_picks_a_uuid4_and_empty_params(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        created = await api.ok("POST", W + "/instances")
        assert uuid.UUID(created["id"]).version == 4
        assert (await api.ok("GET", W + "/instances/" + created["id"]))["params"] == {}


async def test_create_refusals(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        await api.ok("POST", W + "/instances", json={"id": "dup"})
        await api.fails(
            "POST", W + "/instances", 409, 10001,
            'WorkflowError: (instance.already_exists) Workflow instance with id "dup" already exists', json={"id": "dup"},
        )
        for bad in ("has space", "-leading", "x" * 101, 7):
            await api.fails("POST", W + "/instances", 400, 10001, "WorkflowError: Workflow instance has invalid id", json={"id": bad})
        await api.fails("POST", W + "/instances", 400, 10001, "Invalid JSON request body", content=b"{bad")
        listed = await api.ok("GET", W + "/instances")
        assert [row["id"] for row in listed] == ["dup"]  # nothing created by the refused calls


async def _three(api: Any, emulator: Emulator) -> None:
    for name in ("i-1", "i-2", "i-3"):
        await api.ok("POST", W + "/instances", json={"id": name})
        await emulator.advance("1 second")


async def test_instances_are_listed_newest_first_with_paging_info(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        await _three(api, emulator)
        response = await api.request("GET", W + "/instances")
        body = response.json()
        assert [row["id"] for row in body["result"]] == ["i-3", "i-2", "i-1"]
        assert set(body["result"][0]) == {"id", "status", "created_on"}
        assert body["result"][2]["created_on"] == "2026-01-01T00:00:00.000Z"
        [status] = {row["status"] for row in body["result"]}
        assert body["result_info"] == {
            "page": 1, "per_page": 25, "total_count": 3, "total_pages": 1, "status_counts": {status: 3},
        }
        page2 = (await api.request("GET", W + "/instances", params={"per_page": 2, "page": 2})).json()
        assert [row["id"] for row in page2["result"]] == ["i-1"]
        assert page2["result_info"]["total_pages"] == 2
        past = (await api.request("GET", W + "/instances", params={"per_page": 2, "page": 9})).json()
        assert past["result"] == [] and past["result_info"]["total_count"] == 3


async def test_an_empty_list_has_one_page_and_no_counts(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        body = (await api.request("GET", W + "/instances")).json()
        assert body["result"] == []
        assert body["result_info"] == {"page": 1, "per_page": 25, "total_count": 0, "total_pages": 1, "status_counts": {}}


async def test_the_status_and_date_filters(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        await _three(api, emulator)
        await api.ok("PATCH", W + "/instances/i-2/status", json={"status": "terminate"})
        asleep = (await api.ok("GET", W + "/instances/i-1"))["status"]
        running = (await api.request("GET", W + "/instances", params={"status": asleep})).json()
        assert [row["id"] for row in running["result"]] == ["i-3", "i-1"]
        assert running["result_info"]["total_count"] == 2
        assert running["result_info"]["status_counts"] == {asleep: 2, "terminated": 1}
        dated = (await api.request(
            "GET", W + "/instances", params={"date_start": "2026-01-01T00:00:01Z", "date_end": "2026-01-01T00:00:02Z"}
        )).json()
        assert [row["id"] for row in dated["result"]] == ["i-3", "i-2"]
        assert dated["result_info"]["total_count"] == 2
        both = (await api.request(
            "GET", W + "/instances", params={"status": asleep, "date_end": "2026-01-01T00:00:01.000Z"}
        )).json()
        assert [row["id"] for row in both["result"]] == ["i-1"]


STATUS_OPTIONS = '"queued"|"running"|"paused"|"errored"|"terminated"|"complete"|"waitingForPause"|"waiting"'


@pytest.mark.parametrize(
    "query, code, message",
    [
        ({"status": "bogus"}, 10001, f"status: Invalid option: expected one of {STATUS_OPTIONS}"),
        ({"per_page": "0"}, 10001, "per_page: Too small: expected number to be >=1"),
        ({"per_page": "101"}, 10001, "per_page: Too big: expected number to be <=100"),
        ({"page": "0"}, 10001, "page: Too small: expected number to be >=1"),
        ({"page": "abc"}, 10001, 'page: Expected query param to be number but received "abc"'),
        ({"date_start": "yesterday"}, 10001, "date_start: Invalid ISO datetime"),
        ({"date_end": "2026-01-01T00:00:00+01:00"}, 10001, "date_end: Invalid ISO datetime"),
        (
            {"date_start": "2026-02-01T00:00:00Z", "date_end": "2026-01-01T00:00:00Z"},
            10502,
            "'date_start' must not be after 'date_end'. Update 'date_start' or 'date_end' so 'date_start' is before "
            "or equal to 'date_end'.",
        ),
    ],
)
async def test_list_query_errors(emulator: Emulator, served: Any, query: dict[str, str], code: int, message: str) -> None:
    async with served(emulator) as api:
        await api.fails("GET", W + "/instances", 400, code, message, params=query)


async def test_an_unknown_or_impossible_instance_id_is_404(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        odd = (("%0D", "\r"), ("%09", "\t"), ("%0A", "\n"), ("a%0Db", "a\rb"))  # a URL parser would drop them
        for instance_id, shown in (("ghost", "ghost"), ("semi%3Bcolon", "semi;colon"), ("x" * 272, "x" * 272), *odd):
            await api.fails("GET", W + f"/instances/{instance_id}", 404, 10501, f"Workflow instance '{shown}' not found.")
            await api.fails("DELETE", W + f"/instances/{instance_id}", 404, 10501, f"Workflow instance '{shown}' not found.")
            await api.fails(
                "PATCH", W + f"/instances/{instance_id}/status", 404, 10501,
                f"Workflow instance '{shown}' not found.", json={"status": "pause"},
            )
            await api.fails(
                "POST", W + f"/instances/{instance_id}/events/approve", 404, 10501, f"Workflow instance '{shown}' not found."
            )
        assert await api.ok("GET", W + "/instances") == []  # lookups created nothing (wrangler dev's quirk)


async def test_pause_resume_terminate_restart(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        await api.ok("POST", W + "/instances", json={"id": "p"})
        await emulator.settle()
        path = W + "/instances/p/status"
        paused = await api.ok("PATCH", path, json={"status": "pause"})
        assert paused == {"status": "paused", "timestamp": "2026-01-01T00:00:00.000Z"}
        assert (await api.ok("PATCH", path, json={"status": "pause"}))["status"] == "paused"
        assert (await api.ok("PATCH", path, json={"status": "resume"}))["status"] in ("running", "waiting", "queued")
        assert (await api.ok("PATCH", path, json={"status": "terminate"}))["status"] == "terminated"
        assert (await api.ok("PATCH", path, json={"status": "pause"}))["status"] == "terminated"
        await api.fails(
            "PATCH", path, 409, 10001,
            "WorkflowError: (instance.cannot_terminate) Cannot terminate instance since its on a finite state",
            json={"status": "terminate"},
        )
        assert (await api.ok("PATCH", path, json={"status": "restart"}))["status"] in ("running", "queued")
        await emulator.settle()
        restarted = await api.ok("PATCH", path, json={"status": "restart", "from": {"name": "nap", "type": "sleep"}})
        assert restarted["status"] in ("running", "queued")
        await api.fails(
            "PATCH", path, 409, 10001,
            'WorkflowError: (instance.cannot_restart) Step "no-such-step" not found in execution history',
            json={"status": "restart", "from": {"name": "no-such-step"}},
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"json": {"status": "explode"}}, "Invalid input"),
        ({"json": {}}, "Invalid input"),
        ({}, "Invalid input"),
        ({"content": b'{"status":"pause"}', "headers": {"content-type": "text/plain"}}, "Invalid input"),
        ({"content": b"{bad", "headers": {"content-type": "application/json"}}, "Invalid JSON request body"),
        ({"json": {"status": "pause", "rollback": True}}, "'rollback' is only valid when terminating."),
        ({"json": {"status": "restart", "from": {"name": ""}}}, "from.name: Too small: expected string to have >=1 characters"),
        ({"json": {"status": "restart", "from": {"name": "nap", "type": "nap"}}}, "Invalid input"),
        ({"json": {"status": "restart", "from": {"name": "nap", "count": 0}}}, "Invalid input"),
        (
            {"json": {"status": "terminate", "rollback": True}},
            "'rollback' is not supported by cfwf-emulator: terminate without it (no rollback steps run)",
        ),
    ],
)
async def test_status_change_validation(emulator: Emulator, served: Any, kwargs: dict[str, Any], message: str) -> None:
    async with served(emulator) as api:
        await api.ok("POST", W + "/instances", json={"id": "v"})
        await api.fails("PATCH", W + "/instances/v/status", 400, 10001, message, **kwargs)
        assert (await api.ok("GET", W + "/instances/v"))["status"] != "terminated"


async def test_an_event_completes_the_instance(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        await api.ok("POST", W + "/instances", json={"id": "e", "params": {"who": "ada"}})
        await emulator.advance("1 hour")
        sent = await api.ok("POST", W + "/instances/e/events/approve", json={"ok": True})
        assert sent == {"success": True}
        await emulator.settle()
        details = await api.ok("GET", W + "/instances/e")
        assert details["status"] == "complete"
        assert details["output"] == {"greeting": {"who": "ada"}, "approved": {"ok": True}}
        await api.fails(  # production throws here (wrangler dev's local engine accepts and drops it)
            "POST", W + "/instances/e/events/other", 409, 10001,
            'WorkflowError: (instance.not_running) Cannot send event "other" to instance "e": it is complete and will '
            "never wait for events again",
        )


async def test_an_unparseable_event_body_is_refused(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        await api.ok("POST", W + "/instances", json={"id": "e"})
        await api.fails("POST", W + "/instances/e/events/approve", 400, 10001, "Invalid JSON request body", content=b"{bad")


async def test_delete_one_instance(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        await api.ok("POST", W + "/instances", json={"id": "d"})
        assert await api.ok("DELETE", W + "/instances/d") == {"success": True}
        await api.fails("GET", W + "/instances/d", 404, 10501, "Workflow instance 'd' not found.")
        await api.fails("DELETE", W + "/instances/d", 404, 10501, "Workflow instance 'd' not found.")
        assert await api.ok("GET", W + "/instances") == []


async def test_batch_delete_reports_each_id_in_order(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        for name in ("page-1", "page-2", "keep"):
            await api.ok("POST", W + "/instances", json={"id": name})
        result = await api.ok(
            "POST", W + "/instances/batch/delete", json={"instances": ["page-1", "page-2", "never-existed", "page-1"]}
        )
        assert result["deleted"] == [{"id": "page-1"}, {"id": "page-2"}, {"id": "page-1"}]
        assert result["errors"] == [
            {"id": "never-existed", "code": 10400, "message": "workflows.api.error.instance.not_found"}
        ]
        assert [row["id"] for row in await api.ok("GET", W + "/instances")] == ["keep"]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"instances": []}, "instances: Too small: expected array to have >=1 items"),
        ({}, "instances: Invalid input: expected array, received undefined"),
        ({"instances": ["ok", "semi;colon"]}, "instances.1: Invalid string: must match pattern /^[a-zA-Z0-9, *\\/#_-]+$/"),
        ({"instances": [f"i{n}" for n in range(101)]}, "instances: Too big: expected array to have <=100 items"),
    ],
)
async def test_batch_delete_validation(emulator: Emulator, served: Any, body: Any, message: str) -> None:
    async with served(emulator) as api:
        await api.fails("POST", W + "/instances/batch/delete", 400, 10001, message, json=body)


async def test_batch_delete_malformed_json(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        await api.fails(
            "POST", W + "/instances/batch/delete", 400, 10001, "Invalid JSON request body",
            content=b"[", headers={"content-type": "application/json"},
        )


async def test_deleting_a_workflow_removes_every_instance_and_keeps_the_workflow(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        for n in range(130):
            await api.ok("POST", W + "/instances", json={"id": f"n{n}"})
        await api.ok("POST", "/workflows/other-workflow/instances", json={"id": "elsewhere"})
        assert await api.ok("DELETE", W) == {"status": "ok", "success": True}
        assert await api.ok("GET", W + "/instances") == []
        assert set((await api.ok("GET", W))["instances"].values()) == {0}
        assert "demo-workflow" in [row["name"] for row in await api.ok("GET", "/workflows")]
        assert [row["id"] for row in await api.ok("GET", "/workflows/other-workflow/instances")] == ["elsewhere"]


async def test_unrouted_paths_and_methods_are_plain_404(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        for method, path in (("PUT", W), ("GET", "/nothing-here"), ("POST", "/workflows"), ("GET", W + "/instances/a/b/c")):
            response = await api.request(method, path)
            assert response.status_code == 404
            assert response.headers["content-type"].startswith("text/plain")
            assert response.text == "404 Not Found"


async def test_cors_preflight_and_origin_echo(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        response = await api.request("OPTIONS", W + "/instances", headers={"Origin": "http://localhost:5173"})
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
        assert response.headers["access-control-allow-methods"] == "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        assert response.headers["access-control-max-age"] == "86400"
        assert "X-Miniflare-Explorer-Refresh" in response.headers["access-control-allow-headers"]
        bare = await api.request("OPTIONS", "/workflows")
        assert bare.status_code == 204 and bare.headers["access-control-allow-origin"] == "*"
        plain = await api.request("GET", "/workflows", headers={"Origin": "http://127.0.0.1:8787"})
        assert plain.headers["access-control-allow-origin"] == "http://127.0.0.1:8787"
        assert "access-control-allow-origin" not in (await api.request("GET", "/workflows")).headers


async def test_the_openapi_document_is_served_at_the_api_root(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        document = (await api.request("GET", "")).json()
        assert document["openapi"] == "3.0.3"
        assert document["info"]["title"] == "Local Explorer API"
        assert document["servers"][0]["url"] == "/cdn-cgi/local/explorer/api"
        assert "/workflows/{workflow_name}/instances/{instance_id}/status" in document["paths"]
        assert (await api.request("GET", "/")).json() == document


async def test_local_workers_describes_the_worker_and_its_bindings(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        [worker] = await api.ok("GET", "/local/workers")
        assert worker["isSelf"] is True and worker["name"] == "demo-service"
        assert worker["bindings"]["workflows"] == [
            {"id": "demo-workflow", "bindingName": "DEMO", "className": "DemoWorkflow", "scriptName": "demo-service"},
            {"id": "other-workflow", "bindingName": "OTHER", "className": "OtherWorkflow", "scriptName": "demo-service"},
        ]
        assert worker["bindings"]["kv"] == [{"id": "notes-id", "bindingName": "NOTES"}]
        assert worker["triggers"] == {"crons": []}


async def test_a_page_far_past_the_end_is_empty(project: Path, tmp_path: Path, served: Any) -> None:
    stored = Emulator.from_config(project, storage=f"sqlite:///{tmp_path / 'state.sqlite3'}", clock=VirtualClock(0))
    async with served(stored) as api:
        await api.ok("POST", W + "/instances", json={"id": "only"})
        for page in ("4.888749249665212e+307", str(2**70)):
            body = (await api.request("GET", W + "/instances", params={"page": page, "per_page": "100"})).json()
            assert body["result"] == []
            assert body["result_info"]["total_count"] == 1 and body["result_info"]["total_pages"] == 1
