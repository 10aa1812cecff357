"""The engine's public API (``emu.api``): commands and queries every door goes through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import ConfigError, Emulator, VirtualClock, WorkflowEntrypoint, WorkflowError
from cfwf_emulator.api import STATUSES, WorkflowsAPI

START_MS = 1_767_225_600_000.0


class Waits(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        if event["payload"].get("fail"):
            @step.do("boom", config={"retries": {"limit": 0, "delay": 0}})
            async def boom() -> None:
                raise ValueError("no")

            await boom()
        if event["payload"].get("wait"):
            await step.wait_for_event("w", "go", timeout="1 day")
        return event["payload"].get("n")


@pytest.fixture(params=["memory", "sqlite"])
def emu(request: pytest.FixtureRequest, tmp_path: Path) -> Emulator:
    storage = "memory" if request.param == "memory" else f"sqlite:///{tmp_path / 's.db'}"
    emulator = Emulator(clock=VirtualClock(START_MS, autojump=False), storage=storage)
    emulator.add_workflow("waits", Waits, binding="WAITS")
    return emulator


async def test_the_emulator_offers_the_api_protocol(emu: Emulator) -> None:
    api: WorkflowsAPI = emu.api
    async with emu:
        assert await api.create("waits", "a", {"n": 1}) == "a"
        await emu.run_until_idle()
        assert await api.status("waits", "a") == {"status": "complete", "output": 1}
        assert await api.exists("waits", "a") and not await api.exists("waits", "b")
        assert (await api.describe("waits", "a"))["status"] == "complete"


async def test_list_instances_pages_newest_first_with_counts_per_status(emu: Emulator) -> None:
    async with emu:
        for n in range(7):
            await emu.api.create("waits", f"ok-{n}", {"n": n})
        for n in range(3):
            await emu.api.create("waits", f"bad-{n}", {"fail": True})
        await emu.api.create("waits", "waiting", {"wait": True})
        await emu.advance(0)

        page = await emu.api.list_instances("waits", per_page=4)
        assert [i["id"] for i in page["instances"]] == ["waiting", "bad-2", "bad-1", "bad-0"]
        assert page["total"] == 11 and page["page"] == 1 and page["per_page"] == 4
        assert page["counts"] == {"errored": 3, "complete": 7, "waiting": 1}
        assert list(page["counts"]) == [s for s in STATUSES if s in page["counts"]]

        errored = await emu.api.list_instances("waits", status="errored", page=2, per_page=2)
        assert [i["id"] for i in errored["instances"]] == ["bad-0"] and errored["total"] == 3
        oldest = await emu.api.list_instances("waits", status="complete", per_page=2, newest_first=False)
        assert [i["id"] for i in oldest["instances"]] == ["ok-0", "ok-1"]
        first = oldest["instances"][0]
        assert first["status"] == "complete" and first["created"].startswith("2026-01-01T00:00:00")
        assert first["modified"] >= first["created"]
        assert (await emu.api.list_instances("waits", page=99))["instances"] == []


async def test_workflows_lists_each_with_its_binding_class_and_counts(emu: Emulator) -> None:
    async with emu:
        await emu.api.create("waits", "a", {"wait": True})
        await emu.advance(0)
        assert await emu.api.workflows() == [
            {"name": "waits", "binding": "WAITS", "class_name": "Waits", "counts": {"waiting": 1}}
        ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"status": "done"}, "Unknown status 'done': pass one of queued, running"),
        ({"page": 0}, "page must be a whole number from 1, got 0"),
        ({"page": True}, "page must be a whole number from 1"),
        ({"per_page": 0}, "per_page must be a whole number from 1 to 1000"),
        ({"per_page": 1001}, "per_page must be a whole number from 1 to 1000"),
        ({"per_page": "5"}, "per_page must be a whole number"),
    ],
)
async def test_list_instances_refuses_bad_arguments_saying_what_to_pass(
    emu: Emulator, options: dict[str, Any], message: str
) -> None:
    async with emu:
        with pytest.raises(WorkflowError, match=message):
            await emu.api.list_instances("waits", **options)


async def test_an_unknown_workflow_names_the_registered_ones(emu: Emulator) -> None:
    async with emu:
        with pytest.raises(ConfigError, match='No workflow named "nope" is registered \\(known: waits\\)'):
            await emu.api.list_instances("nope")
        with pytest.raises(ConfigError, match="known: waits"):
            await emu.api.exists("nope", "a")
