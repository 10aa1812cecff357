"""Cron triggers: Cloudflare's cron syntax, workflow ``schedules`` and the Worker's ``scheduled()``
handler, fired on the emulator's clock (``crons=True``) or on demand (``emu.scheduled``)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator import ConfigError, Emulator, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.cron import parse_cron

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday
HOUR = 3_600_000


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=timezone.utc).timestamp() * 1000


def fires(expression: str, count: int, after: float = START_MS) -> list[str]:
    cron, out, at = parse_cron(expression), [], after
    for _ in range(count):
        at = cron.next_after(at)
        out.append(datetime.fromtimestamp(at / 1000, tz=timezone.utc).strftime("%Y-%m-%d %a %H:%M"))
    return out


# -- the syntax Cloudflare accepts ------------------------------------------------------------

@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("*/30 * * * *", ["2026-01-01 Thu 00:30", "2026-01-01 Thu 01:00"]),
        ("0 17 * * sun", ["2026-01-04 Sun 17:00", "2026-01-11 Sun 17:00"]),
        ("0 17 * * 1", ["2026-01-04 Sun 17:00", "2026-01-11 Sun 17:00"]),  # 1 is Sunday
        ("10 7 * * 2-6", ["2026-01-01 Thu 07:10", "2026-01-02 Fri 07:10", "2026-01-05 Mon 07:10"]),
        ("10 7 * * mon-FRI", ["2026-01-01 Thu 07:10", "2026-01-02 Fri 07:10", "2026-01-05 Mon 07:10"]),
        ("0 15 1 * *", ["2026-01-01 Thu 15:00", "2026-02-01 Sun 15:00"]),
        ("0 18 * * 6L", ["2026-01-30 Fri 18:00", "2026-02-27 Fri 18:00"]),  # last Friday
        ("0 18 * * friL", ["2026-01-30 Fri 18:00", "2026-02-27 Fri 18:00"]),
        ("59 23 LW * *", ["2026-01-30 Fri 23:59", "2026-02-27 Fri 23:59", "2026-03-31 Tue 23:59"]),
        ("0 0 L * *", ["2026-01-31 Sat 00:00", "2026-02-28 Sat 00:00"]),
        ("0 0 L-3 * *", ["2026-01-28 Wed 00:00", "2026-02-25 Wed 00:00"]),
        ("0 0 15W * *", ["2026-01-15 Thu 00:00", "2026-02-16 Mon 00:00"]),  # Feb 15 is a Sunday
        # saffron's closest-weekday rule: no firing in February or April (too short, not ending on a Friday)
        ("0 0 31W * *", ["2026-01-30 Fri 00:00", "2026-03-31 Tue 00:00", "2026-05-29 Fri 00:00"]),
        ("0 0 L-2W * *", ["2026-01-29 Thu 00:00", "2026-02-26 Thu 00:00", "2026-03-30 Mon 00:00"]),
        ("0 0 * * 2#1", ["2026-01-05 Mon 00:00", "2026-02-02 Mon 00:00"]),  # first Monday
        ("0 0 * * FRI-MON", ["2026-01-02 Fri 00:00", "2026-01-03 Sat 00:00", "2026-01-04 Sun 00:00",
                             "2026-01-05 Mon 00:00", "2026-01-09 Fri 00:00"]),  # a range that wraps
        ("0 0 * * L", ["2026-01-03 Sat 00:00", "2026-01-10 Sat 00:00"]),  # L alone is Saturday
        ("50-10/5 0 * * *", ["2026-01-01 Thu 00:05", "2026-01-01 Thu 00:10", "2026-01-01 Thu 00:50"]),
        ("0 9 1 * 2", ["2026-01-01 Thu 09:00", "2026-01-05 Mon 09:00"]),  # day 1 OR Monday
        ("0 0 29 FEB *", ["2028-02-29 Tue 00:00"]),
        ("0\t12 * JAN,jul *", ["2026-01-01 Thu 12:00", "2026-01-02 Fri 12:00"]),
    ],
)
def test_accepted_expressions_fire_when_cloudflare_would(expression: str, expected: list[str]) -> None:
    assert fires(expression, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("* * * *", "exactly five fields"),
        ("0 * * * * *", "exactly five fields"),  # no seconds
        ("@daily", "exactly five fields"),
        (" 0 * * * *", "exactly five fields"),
        ("0 0 * * 0", "weekday: 0 is out of range 1-7"),
        ("0 0 * * 8", "weekday: 8 is out of range 1-7"),
        ("60 * * * *", "minute: 60 is out of range 0-59"),
        ("0 24 * * *", "hour: 24 is out of range 0-23"),
        ("0 0 32 * *", "day of month: 32 is out of range 1-31"),
        ("0 0 ? * *", "day of month: '?' is not a number"),
        ("*,5 * * * *", "* alone or */step"),
        ("*/0 * * * *", "step '0' must be a number from 1 to 59"),
        ("0 0 * * 1#6", "from 1 to 5"),
        ("0 0 L,5 * *", "day of month"),
        ("0 0 1-5W * *", "day of month"),
        ("0 0 * JANUARY *", "month: 'JANUARY' is not a number"),
        ("0 0 31 2 *", "never fires"),
        ("0 0 * * *L", "weekday"),
    ],
)
def test_refused_expressions_say_what_is_wrong(expression: str, words: str) -> None:
    with pytest.raises(ValueError, match="invalid cron expression") as info:
        parse_cron(expression)
    assert words in str(info.value)


def test_an_expression_longer_than_256_characters_is_refused() -> None:
    long = "0 0 * * " + ",".join(["1"] * 200)
    with pytest.raises(ValueError, match="at most 256"):
        parse_cron(long)


# -- workflow schedules on the clock -----------------------------------------------------------

class Report(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("read event")
        async def read():
            return {"schedule": dict(event["schedule"]), "payload": event["payload"], "id": event["instanceId"]}

        return await read()


class Slow(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("long", "3 hours")
        return event["schedule"]["scheduledTime"]


def virtual(**options: Any) -> Emulator:
    return Emulator(clock=VirtualClock(START_MS), **options)


async def test_advancing_a_day_creates_one_instance_per_firing_with_cloudflare_ids_and_event() -> None:
    emu = virtual(crons=True)
    emu.add_workflow("report", Report, binding="REPORT", schedules=["0 */6 * * *"])
    async with emu:
        await emu.advance("1 day")
        page = await emu.api.list_instances("report", newest_first=False)
        ids = [item["id"] for item in page["instances"]]
        times = [START_MS + n * 6 * HOUR for n in range(1, 5)]
        assert ids == [f"0 */6 * * *-{t}" for t in times]
        last = await emu.env.REPORT.get(ids[-1])
        assert await last.status() == {
            "status": "complete",
            "output": {"schedule": {"cron": "0 */6 * * *", "scheduledTime": times[-1]}, "payload": {}, "id": ids[-1]},
        }


async def test_firings_happen_at_their_time_in_order_between_other_timers() -> None:
    emu = virtual(crons=True)
    emu.add_workflow("slow", Slow, binding="SLOW", schedules="0 * * * *")
    async with emu:
        await emu.advance("2 hours")
        first = await emu.env.SLOW.get(f"0 * * * *-{START_MS + HOUR}")
        assert (await first.status())["status"] == "waiting"  # its 3-hour sleep runs on
        details = await first.describe()
        assert details["queued"] == "2026-01-01T01:00:00.000Z"
        await emu.advance("3 hours")
        assert (await first.status()) == {"status": "complete", "output": START_MS + HOUR}
        # overlapping runs: each firing starts its own instance while the earlier ones still run
        assert (await emu.api.list_instances("slow"))["total"] == 5


async def test_run_until_idle_returns_although_crons_will_fire_again() -> None:
    emu = virtual(crons=True)
    emu.add_workflow("report", Report, binding="REPORT", schedules="*/5 * * * *")
    async with emu:
        await emu.advance("5 minutes")
        await emu.run_until_idle()
        assert emu.clock.now_ms() == START_MS + 5 * 60_000  # no jump to the next firing
        assert (await emu.api.list_instances("report"))["counts"] == {"complete": 1}


async def test_without_crons_true_nothing_fires_on_the_clock() -> None:
    emu = virtual()
    emu.add_workflow("report", Report, binding="REPORT", schedules="* * * * *")
    async with emu:
        await emu.advance("1 hour")
        assert (await emu.api.list_instances("report"))["total"] == 0


async def test_schedules_are_checked_when_the_workflow_is_added() -> None:
    emu = virtual()
    with pytest.raises(ConfigError, match=r"Workflow 'report' schedules: invalid cron expression '0 0 \* \* 0'"):
        emu.add_workflow("report", Report, binding="REPORT", schedules="0 0 * * 0")
    with pytest.raises(ConfigError, match="non-empty list"):
        emu.add_workflow("report", Report, binding="REPORT", schedules=[])
    assert "REPORT" not in emu.env


class NearAMinute:
    """A real clock (time flows) whose first reading is 300 ms before a whole minute."""

    virtual = False

    def __init__(self) -> None:
        self.offset: float | None = None

    def now_ms(self) -> float:
        if self.offset is None:
            self.offset = START_MS + 60_000 - 300 - time.time() * 1000
        return time.time() * 1000 + self.offset


async def test_crons_fire_on_the_real_clock() -> None:
    emu = Emulator(clock=NearAMinute(), crons=True)
    emu.add_workflow("report", Report, binding="REPORT", schedules="* * * * *")
    async with emu:
        expected = f"* * * * *-{START_MS + 60_000}"
        await emu.drive_until(lambda: emu.api.testing.instance("report", expected), timeout=10)
        await emu.run_until_idle()
        assert (await (await emu.env.REPORT.get(expected)).status())["status"] == "complete"


# -- on demand -----------------------------------------------------------------------------------

async def test_scheduled_on_demand_creates_the_instances_and_skips_a_repeated_firing(emu: Emulator) -> None:
    emu.add_workflow("report", Report, binding="REPORT", schedules=["0 * * * *", "30 2 * * *"])
    async with emu:
        at = datetime(2026, 3, 1, 2, 30)
        made = await emu.scheduled(at=at)
        ms = int(utc(2026, 3, 1, 2, 30))
        assert [i.id for i in made] == [f"0 * * * *-{ms}", f"30 2 * * *-{ms}"]
        assert await emu.scheduled(at=at) == []  # the same firing again: ids in use, nothing new
        only = await emu.scheduled(cron="30 2 * * *", at=ms + 60_000)
        assert [i.id for i in only] == [f"30 2 * * *-{ms + 60_000}"]
        await emu.run_until_idle()
        assert (await only[0].status())["output"]["schedule"] == {"cron": "30 2 * * *", "scheduledTime": ms + 60_000}


async def test_scheduled_with_a_cron_nothing_uses_is_a_config_error(emu: Emulator) -> None:
    emu.add_workflow("report", Report, binding="REPORT", schedules="0 * * * *")
    async with emu:
        with pytest.raises(ConfigError, match=r"no schedule fires on cron '5 \* \* \* \*'.*'0 \* \* \* \*'"):
            await emu.scheduled(cron="5 * * * *")
        with pytest.raises(ConfigError, match="weekday: 9 is out of range"):
            await emu.scheduled(cron="0 0 * * 9")
    bare = Emulator(clock=VirtualClock(START_MS))
    bare.add_workflow("report", Report, binding="REPORT")
    async with bare:
        with pytest.raises(ConfigError, match="nothing to fire: no workflow has schedules"):
            await bare.scheduled()


async def test_a_cron_made_instance_can_be_deleted_by_its_id(emu: Emulator) -> None:
    emu.add_workflow("report", Report, binding="REPORT", schedules="*/15 * * * *")
    async with emu:
        [made] = await emu.scheduled(at=START_MS)
        result = await emu.env.REPORT.delete_batch([made.id])
        assert result == {"deleted": [{"id": f"*/15 * * * *-{START_MS}"}], "errors": []}


# -- the Worker's scheduled() handler ------------------------------------------------------------

SEEN: list[dict[str, Any]] = []


class Default:
    def __init__(self, ctx: Any, env: Any) -> None:
        self.env = env

    async def scheduled(self, controller, env, ctx):
        SEEN.append({"cron": controller.cron, "time": controller.scheduledTime, "type": controller.type})
        await env.REPORT.create(id=f"handler-{controller.scheduledTime}")


class Broken:
    def __init__(self, ctx: Any, env: Any) -> None:
        pass

    async def scheduled(self, controller, env, ctx):
        raise RuntimeError("handler failed")


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    SEEN.clear()


async def test_the_scheduled_handler_runs_on_the_clock_for_triggers_crons() -> None:
    emu = virtual(crons=True)
    emu.add_workflow("report", Report, binding="REPORT")
    emu.add_scheduled_handler(Default, ["0 12 * * *"])
    async with emu:
        await emu.advance("2 days")
        noon = START_MS + 12 * HOUR
        assert SEEN == [
            {"cron": "0 12 * * *", "time": noon, "type": "scheduled"},
            {"cron": "0 12 * * *", "time": noon + 24 * HOUR, "type": "scheduled"},
        ]
        assert await emu.api.exists("report", f"handler-{noon}")


async def test_the_scheduled_handler_runs_on_demand_and_its_error_reaches_the_caller(emu: Emulator) -> None:
    emu.add_workflow("report", Report, binding="REPORT")
    emu.add_scheduled_handler(Default)
    async with emu:
        assert await emu.scheduled(cron="*/5 * * * *", at=START_MS) == []  # like wrangler's /__scheduled
        assert SEEN == [{"cron": "*/5 * * * *", "time": START_MS, "type": "scheduled"}]
    broken = Emulator(clock=VirtualClock(START_MS))
    broken.add_scheduled_handler(Broken, "0 * * * *")
    async with broken:
        with pytest.raises(RuntimeError, match="handler failed"):
            await broken.scheduled()


async def test_a_clock_fired_handler_that_raises_is_reported_not_lost() -> None:
    emu = virtual(crons=True)
    emu.add_scheduled_handler(Broken, "0 * * * *")
    async with emu:
        with pytest.warns(RuntimeWarning, match="scheduled\\(\\) handler raised for cron '0 \\* \\* \\* \\*'"):
            await emu.advance("1 hour")


def test_a_scheduled_handler_must_have_a_scheduled_method() -> None:
    with pytest.raises(ConfigError, match="has no scheduled"):
        Emulator().add_scheduled_handler(Report)


# -- config -----------------------------------------------------------------------------------

ENTRY = '''
from workers import WorkerEntrypoint, WorkflowEntrypoint

class Report(WorkflowEntrypoint):
    async def run(self, event, step):
        return event["schedule"]

class Default(WorkerEntrypoint):
    async def scheduled(self, controller, env, ctx):
        await env.REPORT.create(id="from-handler")
'''


def project(tmp_path: Path, schedules: Any, crons: Any = None) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "entry.py").write_text(ENTRY)
    config: dict[str, Any] = {
        "name": "p", "main": "src/entry.py", "compatibility_date": "2026-03-01",
        "compatibility_flags": ["python_workers"],
        "workflows": [{"name": "report", "binding": "REPORT", "class_name": "Report", "schedules": schedules}],
    }
    if crons is not None:
        config["triggers"] = {"crons": crons}
    path = tmp_path / "wrangler.json"
    path.write_text(json.dumps(config, indent=2))
    return path


async def test_config_schedules_and_triggers_crons_are_loaded_and_fire(tmp_path: Path) -> None:
    emu = Emulator.from_config(project(tmp_path, "0 0 * * *", ["0 6 * * *"]), clock=VirtualClock(START_MS), crons=True)
    assert emu.project.workflows[0].schedules == ("0 0 * * *",)
    assert emu.project.crons == ("0 6 * * *",)
    async with emu:
        await emu.advance("1 day")
        ids = sorted(item["id"] for item in (await emu.api.list_instances("report"))["instances"])
        assert ids == [f"0 0 * * *-{START_MS + 24 * HOUR}", "from-handler"]


@pytest.mark.parametrize(
    ("schedules", "crons", "where", "words"),
    [
        (["0 0 * * *", "0 0 * * 0"], None, "workflows[0].schedules[1]", "weekday: 0 is out of range 1-7"),
        ("61 * * * *", None, "workflows[0].schedules", "minute: 61 is out of range"),
        ([], None, "workflows[0].schedules", "non-empty cron string"),
        ("0 0 * * *", ["0 0 * * * *"], "triggers.crons[0]", "exactly five fields"),
        ("0 0 * * *", "0 0 * * *", "triggers.crons", "must be an array"),
    ],
)
def test_a_bad_cron_in_the_config_is_a_config_error_naming_the_field(
    tmp_path: Path, schedules: Any, crons: Any, where: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Emulator.from_config(project(tmp_path, schedules, crons))
    assert "wrangler.json" in str(info.value) and where in str(info.value) and words in str(info.value)


def test_config_crons_without_a_scheduled_handler_warn_and_schedules_do_not(tmp_path: Path) -> None:
    import warnings

    from cfwf_emulator import ConfigWarning

    path = project(tmp_path, "0 0 * * *", ["0 6 * * *"])
    (tmp_path / "src" / "entry.py").write_text(ENTRY.split("class Default")[0])
    with pytest.warns(ConfigWarning, match="triggers.crons: the main module defines no scheduled"):
        Emulator.from_config(path)
    path = project(tmp_path, "0 0 * * *")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)
        Emulator.from_config(path)


async def test_the_schedule_in_the_event_survives_a_restart_with_sqlite(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'state.db'}"
    first = Emulator(clock=VirtualClock(START_MS), storage=storage)
    first.add_workflow("slow", Slow, binding="SLOW", schedules="0 3 * * *")
    async with first:
        [made] = await first.scheduled(at=START_MS + 3 * HOUR)
        await first.settle()
    second = Emulator(clock=VirtualClock(START_MS), storage=storage)
    second.add_workflow("slow", Slow, binding="SLOW", schedules="0 3 * * *")
    async with second:
        await second.run_until_idle()
        again = await second.env.SLOW.get(made.id)
        assert await again.status() == {"status": "complete", "output": START_MS + 3 * HOUR}


def test_a_named_environment_inherits_triggers_crons_unless_it_sets_its_own(tmp_path: Path) -> None:
    path = project(tmp_path, "0 0 * * *", ["0 6 * * *"])
    config = json.loads(path.read_text())
    workflows = config["workflows"]
    config["env"] = {"staging": {"workflows": workflows}, "prod": {"workflows": workflows, "triggers": {"crons": []}}}
    path.write_text(json.dumps(config))
    assert Emulator.from_config(path, env="staging").project.crons == ("0 6 * * *",)
    assert Emulator.from_config(path, env="prod").project.crons == ()


async def test_an_inspector_fires_no_cron_and_refuses_scheduled(tmp_path: Path) -> None:
    from cfwf_emulator import StateReadOnlyError

    state = tmp_path / "state.db"
    owner = Emulator(clock=VirtualClock(START_MS), storage=f"sqlite:///{state}")
    owner.add_workflow("report", Report, binding="REPORT", schedules="* * * * *")
    async with owner:
        pass
    inspector = Emulator(clock=VirtualClock(START_MS), storage=f"sqlite:///{state}", mode="inspect", crons=True)
    async with inspector:
        inspector.add_workflow("report", Report, binding="REPORT", schedules="* * * * *")
        with pytest.raises(StateReadOnlyError, match="^scheduled: the state file"):
            await inspector.scheduled()
        with pytest.raises(StateReadOnlyError, match="^advance: "):
            await inspector.advance("1 hour")
        assert (await inspector.api.list_instances("report"))["total"] == 0
