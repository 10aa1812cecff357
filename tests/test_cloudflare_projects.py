"""Cloudflare's own Python Workflows projects, ported as wrangler projects and run unmodified.

Each folder under tests/projects/ is a Cloudflare Python Workers project (wrangler config plus
src/entry.py importing from ``workers``), written after one of these originals:

- python-workers-examples-dag: cloudflare/python-workers-examples 10-workflows (legacy
  ``depends=[...]``, compatibility date 2025-11-02, /start and /status/<id> routes);
- workers-py-bindings-test: cloudflare/workers-py runtime-sdk bindings-test (worker_workflow.py
  and test_workflow.py, the SDK's end-to-end Workflows suite); the tests below keep the names of
  the original tests and assert what they assert;
- workerd-workflow-entrypoint / workerd-workflow-depends: cloudflare/workerd's
  workflow-entrypoint tests (workflow.py with implicit dependencies, workflow-old.py with
  ``depends``), both expected to return "foobar";
- docs-get-started, docs-beta-announcement, docs-dag, docs-python-workers-api: the examples of
  Cloudflare's Python Workflows docs and the beta changelog.

Every project is loaded with ``Emulator.from_config(folder, clock="virtual")``; Workers with a
fetch handler are driven through ``emu.fetch``. Status polling follows the originals (check
every 100 ms, up to 10 s) in virtual time.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import ConfigWarning, Emulator
from cfwf_emulator.hooks import hookimpl

PROJECTS = Path(__file__).parent / "projects"
TERMINAL = ("complete", "errored", "terminated")


#: The ConfigWarning each project's config earns (pytest.warns re-emits any other warning).
EXPECTED_WARNINGS = {"workers-py-bindings-test": "queues.consumers: the emulator does not run queue consumers"}


def load(name: str, **options: Any) -> Emulator:
    expected = EXPECTED_WARNINGS.get(name)
    if expected is None:
        return Emulator.from_config(PROJECTS / name, clock="virtual", **options)
    with pytest.warns(ConfigWarning, match=re.escape(expected)):
        return Emulator.from_config(PROJECTS / name, clock="virtual", **options)


def ms(iso: str) -> float:
    """Epoch milliseconds of an ISO time from describe() (``...T..:..:..mmmZ``)."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000.0


async def poll(emu: Emulator, instance: Any, until: tuple[str, ...] = TERMINAL) -> dict[str, Any]:
    """Check status() every 100 ms (virtual) for up to 10 s, like the SDK's own tests."""
    for _ in range(100):
        status = await instance.status()
        if status["status"] in until:
            return status
        await emu.advance(100)  # milliseconds
    raise AssertionError(f"instance {instance.id} did not reach {until} within 10 s")


async def poll_until_settled(emu: Emulator, instance: Any) -> dict[str, Any]:
    """The first status that is neither queued nor running (terminal or waiting)."""
    for _ in range(100):
        status = await instance.status()
        if status["status"] not in ("queued", "running"):
            return status
        await emu.advance(100)  # milliseconds
    return await instance.status()


class Timeline:
    """Records instance creations and step starts/ends, in the order the engine announces them."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.events: list[tuple[str, str]] = []

    @hookimpl
    def cfwf_instance_status_changed(self, instance_id: str, old: str | None) -> None:
        if old is None:
            self.created.append(instance_id)

    @hookimpl
    def cfwf_step_start(self, name: str) -> None:
        self.events.append(("start", name))

    @hookimpl
    def cfwf_step_end(self, name: str) -> None:
        self.events.append(("end", name))

    def index(self, kind: str, name: str) -> int:
        return self.events.index((kind, name))


def printed(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def step_named(details: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [step for step in details["steps"] if step["cfwf"]["name"] == name]
    assert len(matches) == 1, f"expected one step {name!r}, got {details['steps']!r}"
    return matches[0]


# -- cloudflare/python-workers-examples 10-workflows ---------------------------------------------


async def test_examples_dag_start_route_creates_an_instance_that_the_status_route_reports_complete():
    emu = load("python-workers-examples-dag")
    async with emu:
        started = await emu.fetch("/start")
        text = await started.text()
        assert started.status == 200
        assert text.startswith("Started a workflow with ID: ")
        instance_id = text.rsplit(" ", 1)[-1]
        await emu.run_until_idle()
        status = await emu.fetch(f"/status/{instance_id}")
        assert status.status == 200
        assert await status.json() == {"status": "complete", "output": None}


async def test_examples_dag_legacy_depends_overlaps_both_dependencies_before_the_final_step(capsys):
    emu = load("python-workers-examples-dag")
    timeline = Timeline()
    emu.register(timeline)
    async with emu:
        await emu.fetch("/start")
        await emu.run_until_idle()
        details = await (await emu.env.MY_WORKFLOW.get(timeline.created[0])).describe()
    assert details["status"] == "complete"
    assert sorted(step["cfwf"]["name"] for step in details["steps"]) == ["dependency 1", "dependency 2", "final step"]
    assert all(step["success"] and len(step["attempts"]) == 1 for step in details["steps"])
    first_end = min(timeline.index("end", "dependency 1"), timeline.index("end", "dependency 2"))
    assert timeline.index("start", "dependency 1") < first_end  # concurrent=True: they overlap
    assert timeline.index("start", "dependency 2") < first_end
    assert timeline.index("start", "final step") > max(
        timeline.index("end", "dependency 1"), timeline.index("end", "dependency 2")
    )
    lines = printed(capsys)
    assert sorted(lines[:2]) == ["executing dep1", "executing dep2"]
    assert lines[2:] == ["both dependencies are done, summarizing"]


async def test_examples_dag_other_paths_explain_the_routes():
    emu = load("python-workers-examples-dag")
    async with emu:
        response = await emu.fetch("/")
        assert response.status == 200
        assert "/start" in await response.text()
        assert "/status/<workflow_id>" in await response.text()


# -- cloudflare/workers-py runtime-sdk bindings-test: TestWorkflow + test_workflow.py --------------


async def test_create_with_explicit_id():
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"id": "explicit-create-id", "params": {"name": "py"}})
        assert instance.id == "explicit-create-id"


async def test_get_returns_instance():
    emu = load("workers-py-bindings-test")
    async with emu:
        created = await emu.env.MY_WORKFLOW.create({"id": "get-target-id", "params": {"name": "py"}})
        fetched = await emu.env.MY_WORKFLOW.get(created.id)
        assert fetched.id == "get-target-id"


async def test_status_round_trips_payload():
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"params": {"name": "py", "nested": {"n": 42}}})
        status = await poll(emu, instance)
    assert status["status"] == "complete", status
    assert status["output"]["echo"]["name"] == "py"
    assert status["output"]["echo"]["nested"]["n"] == 42


async def test_create_batch():
    emu = load("workers-py-bindings-test")
    async with emu:
        instances = await emu.env.MY_WORKFLOW.create_batch(
            [{"id": "batch-id-a", "params": {"n": 1}}, {"id": "batch-id-b", "params": {"n": 2}}]
        )
        assert [instance.id for instance in instances] == ["batch-id-a", "batch-id-b"]
        statuses = [await poll(emu, instance) for instance in instances]
    assert [status["output"]["echo"]["n"] for status in statuses] == [1, 2]


async def test_send_event():
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"params": {"mode": "wait_for_event"}})
        settled = await poll_until_settled(emu, instance)
        assert settled["status"] not in TERMINAL, settled
        await instance.send_event({"type": "approval", "payload": {"approved": True}})
        status = await poll(emu, instance)
    assert status["status"] == "complete", status
    assert status["output"]["event_payload"]["approved"] is True


async def test_step_implicit_dependencies():
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"params": {"mode": "implicit_deps"}})
        status = await poll(emu, instance)
        details = await instance.describe()
    assert status["status"] == "complete", status
    assert status["output"]["derived"] == 15
    assert [(step["cfwf"]["name"], step["output"]) for step in details["steps"]] == [("base_value", 10), ("derived", 15)]


async def test_step_concurrent_dependencies():
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"params": {"mode": "concurrent"}})
        status = await poll(emu, instance)
        details = await instance.describe()
    assert status["status"] == "complete", status
    assert status["output"]["combined"] == 6
    assert [step["cfwf"]["name"] for step in details["steps"]][-1] == "combined"
    assert sorted(step["cfwf"]["name"] for step in details["steps"]) == ["combined", "left", "right"]


async def test_step_sleep():
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"params": {"mode": "sleep"}})
        status = await poll(emu, instance)
        details = await instance.describe()
    assert status["status"] == "complete", status
    assert status["output"]["slept"] is True
    nap = step_named(details, "nap")
    assert nap["type"] == "sleep" and nap["start"] == nap["end"]


async def test_step_sleep_until():
    # The workflow computes "now + 100 ms" with datetime.now(); freeze_user_time makes that the
    # emulator's virtual now, so the sleep must last exactly 100 ms.
    emu = load("workers-py-bindings-test", freeze_user_time=True)
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"params": {"mode": "sleep_until"}})
        status = await poll(emu, instance)
        details = await instance.describe()
    assert status["status"] == "complete", status
    assert status["output"]["slept_until"] is True
    nap = step_named(details, "nap-until")
    assert nap["type"] == "sleep"
    assert ms(nap["end"]) - ms(nap["start"]) == 100


async def test_step_context():
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"params": {"mode": "ctx"}})
        status = await poll(emu, instance)
    assert status["status"] == "complete", status
    assert status["output"] == {"step_name": "ctx-step", "step_count": 1, "attempt": 1, "has_config": True}


async def test_event_metadata():
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create(
            {"id": "meta-id", "params": {"mode": "event_metadata", "tag": "xyz"}}
        )
        status = await poll(emu, instance)
    assert status["status"] == "complete", status
    out = status["output"]
    assert out["payload"] == {"mode": "event_metadata", "tag": "xyz"}
    assert out["has_timestamp"] is True
    assert out["instance_id"] == "meta-id"
    assert out["workflow_name"] == "test-workflow"


async def test_step_retry_config():
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"params": {"mode": "retry"}})
        status = await poll(emu, instance)
        details = await instance.describe()
    assert status["status"] == "complete", status
    assert status["output"]["succeeded_on_attempt"] == 2
    attempts = step_named(details, "retry-step")["attempts"]
    assert [attempt["success"] for attempt in attempts] == [False, True]
    assert attempts[0]["error"] == {"name": "ValueError", "message": "fails on the first attempt"}


async def test_non_retryable_error():
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"params": {"mode": "non_retryable"}})
        status = await poll(emu, instance)
        details = await instance.describe()
    assert status["status"] == "errored", status
    # retries.limit is 1, yet the NonRetryableError stops after the first attempt
    assert len(step_named(details, "non-retryable-step")["attempts"]) == 1
    # compatibility date 2026-08-20 >= 2026-05-14: the error keeps its own name and message
    assert status["error"] == {"name": "NonRetryableError", "message": "retrying cannot help"}


async def test_error_handling_catch():
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"params": {"mode": "catch_error"}})
        status = await poll(emu, instance)
    assert status["status"] == "complete", status
    assert status["output"]["caught"] is not None
    assert status["output"]["caught"] != "IndexError"
    assert status["output"]["message"]
    # TypeError is one of the classes that survive the step boundary (docs, Error Handling)
    assert status["output"]["caught"] == "TypeError"
    assert "failing on purpose" in status["output"]["message"]


async def test_duplicate_step_names():
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"params": {"mode": "duplicate_step_names"}})
        status = await poll(emu, instance)
        details = await instance.describe()
    assert status["status"] == "complete", status
    assert status["output"]["concurrent"] == [1, 2]
    assert status["output"]["uses"] == 20
    assert sorted((step["cfwf"]["name"], step["cfwf"]["count"]) for step in details["steps"]) == [
        ("dup", 1), ("dup", 2), ("uses", 1)
    ]


async def test_step_output_conversion():
    # The newest upstream TestWorkflow returns a datetime and Nones from a step and expects the
    # dependent step to receive a datetime and Nones back.
    emu = load("workers-py-bindings-test")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create({"params": {"mode": "step_output_conversion"}})
        status = await poll(emu, instance)
    assert status["status"] == "complete", status
    out = status["output"]
    assert out["when_is_datetime"] is True
    assert out["year"] == 2026
    assert out["nothing_is_none"] is True
    assert out["nested_nothing_is_none"] is True


async def test_bindings_test_worker_loads_its_full_binding_list_and_answers_health_checks():
    emu = load("workers-py-bindings-test")
    for name in ("MY_WORKFLOW", "KV", "DB", "BUCKET", "TEST_QUEUE", "VECTORIZE", "HYPERDRIVE_PG", "ASSETS"):
        assert name in emu.env
    async with emu:
        health = await emu.fetch("/health")
        assert (health.status, await health.json()) == (200, {"ok": True})
        missing = await emu.fetch("/nothing-here")
        assert (missing.status, await missing.json()) == (404, {"error": "not found"})
        await emu.env.KV.put("greeting", "hi")
        assert await emu.env.KV.get("greeting") == "hi"


# -- cloudflare/workerd workflow-entrypoint tests -------------------------------------------------


async def test_workerd_implicit_dependency_workflow_returns_foobar():
    emu = load("workerd-workflow-entrypoint")
    async with emu:
        instance = await emu.env.PYTHON_WORKFLOW.create()
        await emu.run_until_idle()
        assert await instance.status() == {"status": "complete", "output": "foobar"}


async def test_workerd_implicit_dependencies_are_memoised_and_undeclared_steps_never_run(capsys):
    emu = load("workerd-workflow-entrypoint")
    async with emu:
        instance = await emu.env.PYTHON_WORKFLOW.create()
        await emu.run_until_idle()
        details = await instance.describe()
    names = [step["cfwf"]["name"] for step in details["steps"]]
    assert names[:2] == ["normal_step", "step_3"]
    assert sorted(names[2:4]) == ["step_1", "step_2"]
    assert names[4:] == ["step_4", "step_5"]  # step_5 reuses step_1/step_2: no second run
    assert all(step["success"] and len(step["attempts"]) == 1 for step in details["steps"])
    assert step_named(details, "step_5")["output"] == "foobar"
    out = printed(capsys)
    assert "running my_failing" not in out
    assert out.count("running step 1") == 1 and out.count("running step 2") == 1
    assert not any(line.startswith("Caught") for line in out)


async def test_workerd_legacy_depends_fills_parameters_in_order_and_returns_foobar():
    emu = load("workerd-workflow-depends")
    async with emu:
        instance = await emu.env.PYTHON_WORKFLOW_DEPENDS.create()
        await emu.run_until_idle()
        status = await instance.status()
        details = await instance.describe()
    assert status == {"status": "complete", "output": "foobar"}
    assert sorted(step["cfwf"]["name"] for step in details["steps"]) == ["step_1", "step_2", "step_3"]
    assert details["steps"][-1]["cfwf"]["name"] == "step_3"
    # the assertions inside the steps (ctx attempt 1, results in `depends` order) held first time
    assert all(step["success"] and len(step["attempts"]) == 1 for step in details["steps"])


# -- Cloudflare docs: Get Started, beta announcement, DAG page, Python Workers API -----------------


async def test_docs_get_started_fetch_starts_a_workflow_that_runs_both_steps_in_order(capsys):
    emu = load("docs-get-started")
    timeline = Timeline()
    emu.register(timeline)
    async with emu:
        response = await emu.fetch("/")
        assert (response.status, await response.text()) == (200, "Hello world!")
        assert len(timeline.created) == 1
        await emu.run_until_idle()
        instance = await emu.env.MY_WORKFLOW.get(timeline.created[0])
        status, details = await instance.status(), await instance.describe()
    assert status == {"status": "complete", "output": None}
    assert [(step["name"], step["type"], step["success"]) for step in details["steps"]] == [
        ("step1-1", "step", True), ("step2-1", "step", True)
    ]
    assert printed(capsys) == ["executing step1", "executing step2"]


async def test_docs_get_started_every_request_starts_its_own_instance():
    emu = load("docs-get-started")
    timeline = Timeline()
    emu.register(timeline)
    async with emu:
        await emu.fetch("/")
        await emu.fetch("/")
        await emu.run_until_idle()
        statuses = [await (await emu.env.MY_WORKFLOW.get(i)).status() for i in timeline.created]
    assert len(set(timeline.created)) == 2
    assert [status["status"] for status in statuses] == ["complete", "complete"]


async def test_beta_announcement_example_sleeps_ten_seconds_between_its_steps():
    emu = load("docs-beta-announcement")
    timeline = Timeline()
    emu.register(timeline)
    async with emu:
        started_at = emu.clock.now_ms()
        response = await emu.fetch("/")
        assert (response.status, await response.text()) == (200, "Hello Workflow creation!")
        await emu.run_until_idle()
        details = await (await emu.env.MY_WORKFLOW.get(timeline.created[0])).describe()
        assert emu.clock.now_ms() - started_at == 10_000
    assert details["status"] == "complete"
    steps = details["steps"]
    assert [(step["name"], step["type"], step.get("output")) for step in steps] == [
        ("my first step-1", "step", "Hello Python!"),
        ("my-sleep-step-1", "sleep", None),
        ("my second step-1", "step", "Hello again!"),
    ]
    assert ms(steps[2]["start"]) - ms(steps[0]["end"]) == 10_000


async def test_docs_dag_final_step_gets_both_dependency_results_by_parameter_name(capsys):
    emu = load("docs-dag")
    timeline = Timeline()
    emu.register(timeline)
    async with emu:
        response = await emu.fetch("/")
        assert (response.status, await response.text()) == (200, "Hello world!")
        await emu.run_until_idle()
        details = await (await emu.env.MY_WORKFLOW.get(timeline.created[0])).describe()
    assert details["status"] == "complete"
    steps = details["steps"]
    assert (steps[0]["cfwf"]["name"], steps[0]["type"]) == ("demo sleep", "sleep")
    assert ms(steps[0]["end"]) - ms(steps[0]["start"]) == 10_000
    assert sorted((step["cfwf"]["name"], step["output"]) for step in steps[1:3]) == [("dep_1", "dep1"), ("dep_2", "dep2")]
    assert (steps[3]["cfwf"]["name"], steps[3]["success"]) == ("final_step", True)
    lines = printed(capsys)
    assert sorted(lines[:2]) == ["executing dep1", "executing dep2"]
    assert lines[2:] == ["dep1 dep2"]  # and await_step caught nothing


async def test_docs_step_context_gives_the_attempt_number():
    emu = load("docs-python-workers-api")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create()
        await emu.run_until_idle()
        status = await instance.status()
    assert status["status"] == "complete", status
    assert status["output"]["greeting"] == "Hello World!"
    assert status["output"]["first_attempt"] == 1


async def test_docs_retry_config_retries_once_after_ten_seconds():
    emu = load("docs-python-workers-api")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create()
        await emu.run_until_idle()
        status, details = await instance.status(), await instance.describe()
    assert status["output"]["flaky"] == {"attempt": 2, "retry_limit": 1}
    attempts = step_named(details, "step-name")["attempts"]
    assert [attempt["success"] for attempt in attempts] == [False, True]
    assert attempts[0]["error"] == {"name": "ValueError", "message": "the API was not ready yet"}
    assert ms(attempts[1]["start"]) - ms(attempts[0]["end"]) == 10_000


async def test_docs_try_step_catches_the_type_error_after_the_default_retries(capsys):
    emu = load("docs-python-workers-api")
    async with emu:
        instance = await emu.env.ERROR_WORKFLOW.create(params={})
        await emu.run_until_idle()
        status, details = await instance.status(), await instance.describe()
    assert status == {
        "status": "complete",
        "output": {"caught": "TypeError", "message": "Intentional error in my_failing"},
    }
    # default retries: limit 5, so six attempts in all
    assert len(step_named(details, "my_failing")["attempts"]) == 6
    lines = printed(capsys)
    assert lines.count("Executing my_failing") == 6
    assert lines[-1] == "Successfully caught TypeError: Intentional error in my_failing"


async def test_docs_user_defined_exceptions_must_be_caught_as_exception():
    emu = load("docs-python-workers-api")
    async with emu:
        instance = await emu.env.ERROR_WORKFLOW.create(params={"over_quota": True})
        await emu.run_until_idle()
        status = await instance.status()
    assert status == {"status": "complete", "output": {"quota": "caught as Exception"}}


async def test_docs_non_retryable_error_ends_the_instance_after_one_attempt():
    emu = load("docs-python-workers-api")
    async with emu:
        instance = await emu.env.ERROR_WORKFLOW.create(params={"reject": "no email"})
        await emu.run_until_idle()
        status, details = await instance.status(), await instance.describe()
    assert status["status"] == "errored"
    # compatibility date 2026-07-06 >= 2026-05-14: the NonRetryableError keeps its message
    assert status["error"] == {"name": "NonRetryableError", "message": "payload rejected: no email"}
    assert len(step_named(details, "validate payload")["attempts"]) == 1
