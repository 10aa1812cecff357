"""Hibernation by default: with a durable store an instance waiting at least a minute leaves memory
and is replayed when woken; in memory (nothing to reload from) and with ``hibernate=None`` it never
is. A replay shows as one more call of ``run`` (the code outside steps runs again); the steps'
callbacks never run again. Instances due at the same instant wake in the order they began waiting,
ties in creation order, whatever the store and whether they hibernated.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import ConfigError, Emulator, WorkflowEntrypoint
from cfwf_emulator.clock import VirtualClock

#: run() calls per instance id (code outside steps: runs again on each replay).
RUNS: dict[str, int] = {}
#: callback executions per instance id (inside a step: never again once done).
CALLBACKS: dict[str, int] = {}
#: instance ids in the order their step after the shared deadline ran.
WOKE: list[str] = []

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
DUE = datetime(2026, 1, 8, tzinfo=timezone.utc)


class Sleeper(WorkflowEntrypoint):
    """One step, sleep ``params["sleep"]``, then one more step."""

    async def run(self, event: Any, step: Any) -> Any:
        instance_id = event["instanceId"]
        RUNS[instance_id] = RUNS.get(instance_id, 0) + 1

        @step.do("before")
        async def before() -> int:
            return 1

        await before()
        await step.sleep("nap", event["payload"]["sleep"])

        @step.do("after")
        async def after() -> str:
            CALLBACKS[instance_id] = CALLBACKS.get(instance_id, 0) + 1
            return "done"

        return await after()


class Meeter(WorkflowEntrypoint):
    """Sleep ``params["lead"]`` seconds (when not 0), then sleep until DUE, then note the wake."""

    async def run(self, event: Any, step: Any) -> Any:
        lead = event["payload"]["lead"]
        if lead:
            await step.sleep("lead", f"{lead} seconds")
        await step.sleep_until("meet", DUE)

        @step.do("note")
        async def note() -> None:
            WOKE.append(event["instanceId"])

        await note()


def storage_for(kind: str, tmp_path: Path) -> str:
    return "memory" if kind == "memory" else f"sqlite:///{tmp_path / 'state.db'}"


async def sleep_once(storage: str, sleep: str, **options: Any) -> tuple[int, int, Any]:
    """Run one Sleeper to its end; its run() calls, callback runs and final status."""
    RUNS.clear()
    CALLBACKS.clear()
    emu = Emulator(clock="virtual", storage=storage, **options)
    emu.add_workflow("sleeper", Sleeper, binding="SLEEPER")
    async with emu:
        instance = await emu.env.SLEEPER.create(id="s", params={"sleep": sleep})
        await emu.run_until_idle()
        status = await instance.status()
    return RUNS["s"], CALLBACKS["s"], status


@pytest.mark.parametrize(
    ("kind", "sleep", "options", "runs"),
    [
        ("sqlite", "1 day", {}, 2),  # on by default with a durable store: replayed once when woken
        ("sqlite", "1 minute", {}, 2),  # the default threshold is one minute, inclusive
        ("sqlite", "59 seconds", {}, 1),  # a short sleep stays in memory: no needless replay
        ("memory", "1 day", {}, 1),  # off in memory: nothing to reload from
        ("sqlite", "1 day", {"hibernate": None}, 1),  # None opts out
        ("sqlite", "1 day", {"hibernate": False}, 1),
        ("sqlite", "10 seconds", {"hibernate": "5 seconds"}, 2),  # a threshold of one's own
        ("memory", "1 day", {"hibernate": "1 hour"}, 2),  # opting in with the memory store
    ],
)
async def test_hibernation_is_on_by_default_with_a_durable_store_and_off_in_memory(
    tmp_path: Path, kind: str, sleep: str, options: dict[str, Any], runs: int
) -> None:
    observed = await sleep_once(storage_for(kind, tmp_path), sleep, **options)
    assert observed == (runs, 1, {"status": "complete", "output": "done"})


async def test_an_instance_waiting_in_a_state_file_stays_out_of_memory_until_due_after_a_restart(
    tmp_path: Path,
) -> None:
    RUNS.clear()
    CALLBACKS.clear()
    storage = storage_for("sqlite", tmp_path)
    first = Emulator(clock="virtual", storage=storage)
    first.add_workflow("sleeper", Sleeper, binding="SLEEPER")
    async with first:
        await first.env.SLEEPER.create(id="s", params={"sleep": "1 day"})
        await first.advance("1 hour")
        assert RUNS == {"s": 1}
    second = Emulator(clock="virtual", storage=storage)
    second.add_workflow("sleeper", Sleeper, binding="SLEEPER")
    async with second:
        await second.advance(0)
        assert RUNS == {"s": 1}  # recovered asleep: not replayed before its deadline
        await second.run_until_idle()
        instance = await second.env.SLEEPER.get("s")
        assert await instance.status() == {"status": "complete", "output": "done"}
    assert (RUNS, CALLBACKS) == ({"s": 2}, {"s": 1})


def test_a_hibernate_option_that_is_no_duration_says_what_to_pass() -> None:
    with pytest.raises(ConfigError, match=r'hibernate must be "auto" \(the default\), None \(never\), "always" or a duration'):
        Emulator(hibernate="sometimes")


#: Instance ids with the seconds each sleeps before sleeping until DUE, in creation order. They
#: begin waiting for DUE in the order c, e (both at once: creation order), b, d, a.
LEADS = {"a": 30, "b": 10, "c": 0, "d": 20, "e": 0}
WAKE_ORDER = ["c", "e", "b", "d", "a"]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize("hibernate", ["auto", None, "1 minute", "always"])
async def test_instances_due_at_the_same_instant_wake_in_the_order_they_began_waiting(
    tmp_path: Path, kind: str, hibernate: Any
) -> None:
    WOKE.clear()
    emu = Emulator(clock=VirtualClock(START), storage=storage_for(kind, tmp_path), hibernate=hibernate)
    emu.add_workflow("meeter", Meeter, binding="MEETER")
    async with emu:
        await emu.env.MEETER.create_batch([{"id": name, "params": {"lead": lead}} for name, lead in LEADS.items()])
        await emu.run_until_idle()
        assert emu.now == DUE.replace(tzinfo=None)  # emu.now is naive UTC
    assert WOKE == WAKE_ORDER


@pytest.mark.parametrize("hibernate", ["auto", None])
async def test_after_a_restart_instances_due_together_still_wake_in_the_order_they_began_waiting(
    tmp_path: Path, hibernate: Any
) -> None:
    WOKE.clear()
    storage = storage_for("sqlite", tmp_path)
    first = Emulator(clock=VirtualClock(START), storage=storage, hibernate=hibernate)
    first.add_workflow("meeter", Meeter, binding="MEETER")
    async with first:
        await first.env.MEETER.create_batch([{"id": name, "params": {"lead": lead}} for name, lead in LEADS.items()])
        await first.advance("1 minute")
    second = Emulator(clock=VirtualClock(START), storage=storage, hibernate=hibernate)
    second.add_workflow("meeter", Meeter, binding="MEETER")
    async with second:
        await second.run_until_idle()
    assert WOKE == WAKE_ORDER


@pytest.mark.parametrize(("options", "runs"), [({}, 2), ({"hibernate": None}, 1)])
async def test_the_pytest_plugin_keeps_the_default_and_passes_hibernate_none_through(
    cfwf_factory: Any, tmp_path: Path, options: dict[str, Any], runs: int
) -> None:
    RUNS.clear()
    emu = cfwf_factory(config=False, storage=storage_for("sqlite", tmp_path), **options)
    emu.add_workflow("sleeper", Sleeper, binding="SLEEPER")
    async with emu:
        instance = await emu.env.SLEEPER.create(id="s", params={"sleep": "1 day"})
        await emu.run_until_idle()
        assert await instance.status() == {"status": "complete", "output": "done"}
    assert RUNS == {"s": runs}
