"""From Cloudflare's docs: the Python Workflows examples of developers.cloudflare.com, run unmodified.

Each module in tests/docs_examples/ is one example as its page writes it (``from workers import
...``, ``from pyodide.ffi import to_js``, ``from js import Object``, the ``@step.do`` decorator),
with the page's address at its top; it is loaded as its own module, registered under the
compatibility date and flags its page configures, and run to the end in virtual time. The
tests assert what the page says the example does. Cloudflare's projects and the SDK's own
end-to-end suite are in tests/test_cloudflare_projects.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cfwf_emulator import Emulator, VirtualClock
from cfwf_emulator.testing import introspect_workflow_instance

EXAMPLES = Path(__file__).parent / "docs_examples"
START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
#: The bindings page's wrangler configuration (developers.cloudflare.com/workflows/python/bindings/).
BINDINGS_PAGE_CONFIG = {"compatibility_date": "2026-02-13", "compatibility_flags": ["python_workflows", "python_workers"]}
#: The configuration the pages showed while ``depends=`` was the way (cloudflare-docs bindings.mdx, 2024).
DEPENDS_ERA_CONFIG = {"compatibility_date": "2024-10-22", "compatibility_flags": ["python_workflows", "python_workers"]}


def example(name: str) -> ModuleType:
    """Import tests/docs_examples/<name>.py as a module of its own."""
    spec = importlib.util.spec_from_file_location(f"cloudflare_docs_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def emulator(**options: Any) -> Emulator:
    return Emulator(clock=VirtualClock(START_MS), **options)


def steps_of(details: Any) -> list[tuple[str, str, Any]]:
    """Each step's kind and name as the workflow called it, and its output (an event's payload)."""
    found = []
    for step in details["steps"]:
        output = step.get("output")
        if step["type"] == "waitForEvent" and output is not None:
            output = output["payload"]
        found.append((step["cfwf"]["type"], step["cfwf"]["name"], output))
    return found


async def test_dag_by_parameter_names_runs_both_dependencies_then_the_final_step(capsys: pytest.CaptureFixture[str]) -> None:
    module = example("dag_implicit")
    emu = emulator()
    emu.add_workflow("workflows-demo", module.PythonWorkflowStarter, binding="MY_WORKFLOW")
    emu.add_worker(module.Default)
    async with emu:
        response = await emu.fetch("/")
        assert await response.text() == "Hello world!"
        (summary,) = (await emu.api.list_instances("workflows-demo"))["instances"]
        await emu.run_until_idle()
        details = await emu.api.describe("workflows-demo", summary["id"])
    assert details["status"] == "complete"
    assert steps_of(details) == [
        ("sleep", "demo sleep", None),
        ("do", "dep_1", "dep1"),
        ("do", "dep_2", "dep2"),
        ("do", "final_step", None),
    ]
    assert details["steps"][1]["start"] == details["steps"][0]["end"]  # after the 10 s sleep
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["executing dep1", "executing dep2", "dep1 dep2"]


async def test_dag_with_depends_returns_the_sum_of_both_dependencies() -> None:
    module = example("dag_depends")
    emu = emulator(**DEPENDS_ERA_CONFIG)
    emu.add_workflow("workflows-starter", module.MyWorkflow, binding="MY_WORKFLOW")
    async with emu:
        async with introspect_workflow_instance(emu.env.MY_WORKFLOW, "dag-1") as instance:
            await emu.env.MY_WORKFLOW.create(id="dag-1")
            assert await instance.wait_for_step_result("my final step") == 30  # "should return 30"
            await instance.wait_for_status("complete")
            details = await emu.api.describe("workflows-starter", "dag-1")
    assert steps_of(details) == [("do", "dependency a", 10), ("do", "dependency b", 20), ("do", "my final step", 30)]


async def test_a_step_named_after_its_function_returns_hello_world() -> None:
    module = example("first_step")
    emu = emulator()
    emu.add_workflow("my-workflow", module.MyWorkflow, binding="MY_WORKFLOW")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create(id="first")
        await emu.run_until_idle()
        assert (await instance.status())["status"] == "complete"
        details = await instance.describe()
    assert steps_of(details) == [("do", "my_first_step", "Hello World!")]


async def test_on_fetch_creates_an_instance_with_to_js_params_and_the_undecorated_call_never_runs_the_step() -> None:
    module = example("payload_and_create")
    emu = emulator(**BINDINGS_PAGE_CONFIG)
    emu.add_workflow("workflows-starter", module.DemoWorkflowClass, binding="MY_WORKFLOW")
    emu.add_worker(module.on_fetch)
    async with emu:
        response = await emu.fetch("/")
        assert await response.json() == {"status": "success"}
        (summary,) = (await emu.api.list_instances("workflows-starter"))["instances"]
        await emu.run_until_idle()
        details = await emu.api.describe("workflows-starter", summary["id"])
    assert details["status"] == "complete"
    assert details["params"] == {"foo": "bar"}
    # the page's run() decorates first_step but never awaits it: as the page itself says, "the
    # decorator doesn't make the call to the step", so no step runs
    assert steps_of(details) == []


async def test_create_batch_with_to_js_options_then_drive_one_instance_through_its_methods() -> None:
    payload_module = example("payload_and_create")
    module = example("create_batch_and_get")
    emu = emulator(**BINDINGS_PAGE_CONFIG)
    emu.add_workflow("workflows-starter", payload_module.DemoWorkflowClass, binding="MY_WORKFLOW")
    emu.add_worker(module.on_fetch)
    async with emu:
        response = await emu.fetch("/")
        assert await response.json() == {"status": "terminated", "output": None}
        await emu.run_until_idle()
        for number, instance_id in enumerate(["id-abc123", "id-def456", "id-ghi789"]):
            details = await emu.api.describe("workflows-starter", instance_id)
            assert details["params"] == {"hello": f"world-{number}"}
            expected = "terminated" if instance_id == "id-abc123" else "complete"
            assert details["status"] == expected, (instance_id, details["status"])


async def test_sleep_sleep_until_and_wait_for_event_in_virtual_time() -> None:
    module = example("sleep_and_events")
    emu = emulator(freeze_user_time=True)  # datetime.now() in the workflow follows the virtual clock
    emu.add_workflow("sleeper", module.SleepWorkflow, binding="MY_WORKFLOW")
    async with emu:
        instance = await emu.env.MY_WORKFLOW.create(id="s-1")
        await emu.advance("20 seconds")
        assert (await instance.status())["status"] == "waiting"
        await instance.send_event(type="my-event-type", payload={"approved": True})
        await emu.run_until_idle()
        details = await instance.describe()
    assert details["status"] == "complete"
    assert steps_of(details) == [
        ("sleep", "my-sleep-step", None),
        ("sleep", "my-sleep-until-step", None),
        ("waitForEvent", "my-wait-for-event-step", {"approved": True}),
    ]
    sleep, sleep_until, _ = details["steps"]
    assert (sleep["start"], sleep["end"]) == ("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:10.000Z")
    assert (sleep_until["start"], sleep_until["end"]) == ("2026-01-01T00:00:10.000Z", "2026-01-01T00:00:20.000Z")


async def test_retries_a_caught_type_error_and_a_non_retryable_error(capsys: pytest.CaptureFixture[str]) -> None:
    module = example("retries_and_errors")
    emu = emulator()
    emu.add_workflow("demo", module.DemoWorkflowClass, binding="MY_WORKFLOW")
    emu.add_worker(module.Default)
    async with emu:
        response = await emu.fetch("/")
        assert await response.json() == {"status": "success"}
        (summary,) = (await emu.api.list_instances("demo"))["instances"]
        await emu.run_until_idle()
        details = await emu.api.describe("demo", summary["id"])
    assert details["status"] == "errored"
    assert details["error"] == {"name": "NonRetryableError", "message": "the payload cannot be processed"}
    first, failing, give_up = details["steps"]
    assert (first["name"], first["success"], len(first["attempts"])) == ("step-name-1", True, 1)
    assert first["config"]["retries"] == {"limit": 1, "backoff": "exponential", "delay": "10 seconds"}
    assert (failing["name"], failing["success"], len(failing["attempts"])) == ("my_failing-1", False, 6)  # 1 + 5 retries
    assert (give_up["name"], len(give_up["attempts"])) == ("give up-1", 1)  # not retried
    out = capsys.readouterr().out.splitlines()
    assert out.count("Executing my_failing") == 6
    assert "Successfully caught TypeError: Intentional error in my_failing" in out


async def test_send_event_on_the_binding_as_the_page_shows_says_to_call_it_on_an_instance() -> None:
    payload_module = example("payload_and_create")
    module = example("send_event_on_the_binding")
    emu = emulator(**BINDINGS_PAGE_CONFIG)
    emu.add_workflow("workflows-starter", payload_module.DemoWorkflowClass, binding="MY_WORKFLOW")
    emu.add_worker(module.on_fetch)
    async with emu:
        with pytest.raises(AttributeError) as caught:
            await emu.fetch("/")
    message = str(caught.value)
    assert message.startswith("a Workflow binding has no send_event: events go to one instance")
    assert "instance = await env.MY_WORKFLOW.get(id); await instance.send_event(...)" in message
