"""The Store contract, run on both stores (memory and SQLite).

Every test takes the parametrized ``store`` fixture; ``persisted()`` shows what the store has kept:
for the memory store that is the store itself, for SQLite a NEW ``SQLiteStore`` on the same file,
so a change only counts as saved once it is on disk. The last tests run the same workflow on an
emulator over each store and compare what users see (``status()``/``describe()``).
"""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from cfwf_emulator import Emulator, VirtualClock, WorkflowEntrypoint
from cfwf_emulator.engine.records import STATUSES, InstanceRecord, StepRecord
from cfwf_emulator.store import InstanceSummary, MemoryStore, SQLiteStore

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
SECOND = 1_000.0
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

UNICODE = 'naïve — 日本語 🚀 \u2028 "quoted" \\ back\tslash \x00 end'
NESTED = {
    "list": [1, 2.5, None, True, False, "x", [], {}],
    "deep": {"a": {"b": {"c": [{"d": UNICODE}]}}},
    "ключ 🔑": "значение",
}
FLOATS = [0.1, 0.1 + 0.2, 1 / 3, 1e-300, 1.7976931348623157e308, -0.0, 1_767_225_600_123.456, 2**53 + 0.0]


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(kind: str, tmp_path: Path) -> Iterator[Any]:
    opened = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "s.db")
    yield opened
    opened.close()


@pytest.fixture
def persisted(kind: str, store: Any, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """What ``store`` has saved: the memory store itself, or a NEW SQLiteStore on the same file."""
    views: list[Any] = []

    def view() -> Any:
        if kind == "memory":
            return store
        fresh = SQLiteStore(tmp_path / "s.db")
        views.append(fresh)
        return fresh

    yield view
    for fresh in views:
        fresh.close()


# -- records -------------------------------------------------------------------------------


def make_step(name: str = "fetch", count: int = 1, seq: int = 0, **fields: Any) -> StepRecord:
    base: dict[str, Any] = dict(
        kind="do",
        name=name,
        count=count,
        seq=seq,
        start_ms=START_MS + seq * SECOND,
        state="ok",
        end_ms=START_MS + seq * SECOND + 250.5,
        result=json.dumps({"n": seq, "text": UNICODE}, ensure_ascii=False),
        config={"retries": {"limit": 2, "delay": "10 seconds", "backoff": "constant"}, "timeout": "1 minute"},
        attempts=[
            {
                "start": START_MS + seq * SECOND,
                "end": START_MS + seq * SECOND + 100.25,
                "success": False,
                "error": {"name": "Error", "message": "boom 💥"},
            },
            {"start": START_MS + seq * SECOND + 200.0, "end": START_MS + seq * SECOND + 250.5, "success": True, "error": None},
        ],
    )
    base.update(fields)
    return StepRecord(**base)


def make_record(workflow: str = "orders", instance_id: str = "i1", **fields: Any) -> InstanceRecord:
    base: dict[str, Any] = dict(
        workflow=workflow,
        id=instance_id,
        params=json.dumps({"order": 7, "note": UNICODE}, ensure_ascii=False),
        created_ms=START_MS,
        status="waiting",
        queued_ms=START_MS,
        start_ms=START_MS + 1.5,
        events=[{"type": "approval", "payload": json.dumps(NESTED, ensure_ascii=False), "ms": START_MS + 5.0}],
        modifiers={
            "disable_sleeps": [{"name": "nap", "index": 1}],
            "results": {"fetch#2": '"mocked"'},
            "failures": {"charge#1": [{"kind": "error", "error": {"name": "Error", "message": "no"}, "times": 2}]},
            "events": [{"type": "approval", "payload": "{}", "ms": START_MS, "mocked": True}],
        },
        next_seq=3,
    )
    base.update(fields)
    record = InstanceRecord(**base)
    for step in (
        make_step("fetch", 1, 0),
        make_step("charge", 1, 1, state="running", end_ms=None, result=None, deadline_ms=START_MS + HOUR,
                  attempts=[{"start": START_MS + SECOND, "end": START_MS + 2 * SECOND, "success": False,
                             "error": {"name": "Error", "message": "card declined"}}]),
        StepRecord("sleep", "nap", 1, 2, START_MS + 3 * SECOND, "waiting", deadline_ms=START_MS + 2 * HOUR),
    ):
        record.steps[step.key] = step
    return record


# -- insert / load ---------------------------------------------------------------------------


def test_insert_then_load_returns_an_equal_record(store: Any, persisted: Callable[[], Any]) -> None:
    record = make_record()
    expected = copy.deepcopy(record)
    store.insert_instance(record)
    loaded = persisted().load_instance("orders", "i1")
    assert loaded == expected
    assert loaded.header_json() == expected.header_json()
    assert set(loaded.steps) == {("do", "fetch", 1), ("do", "charge", 1), ("sleep", "nap", 1)}
    assert loaded.steps[("do", "fetch", 1)].attempts == expected.steps[("do", "fetch", 1)].attempts


def test_load_of_an_unknown_instance_is_none(store: Any, persisted: Callable[[], Any]) -> None:
    store.insert_instance(make_record())
    view = persisted()
    assert view.load_instance("orders", "nope") is None
    assert view.load_instance("other-workflow", "i1") is None


def test_instance_ids_of_an_unknown_workflow_is_empty(store: Any, persisted: Callable[[], Any]) -> None:
    store.insert_instance(make_record())
    assert persisted().instance_ids("other-workflow") == []


# -- header and step writes -------------------------------------------------------------------


def test_save_header_persists_every_header_field(store: Any, persisted: Callable[[], Any]) -> None:
    record = make_record()
    store.insert_instance(record)
    record.status = "errored"
    record.end_ms = START_MS + HOUR + 0.125
    record.output = json.dumps(NESTED, ensure_ascii=False)
    record.error = {"name": "Error", "message": UNICODE}
    record.pause_ms = START_MS + 30 * MINUTE
    record.events.append({"type": "second", "payload": "[1,2,3]", "ms": START_MS + 6.0})
    record.modifiers["disable_retry_delays"] = True
    record.next_seq = 9
    expected_header = copy.deepcopy(record.header_json())
    expected_events = copy.deepcopy(list(record.events))
    store.save_header(record)
    loaded = persisted().load_instance("orders", "i1")
    assert loaded.header_json() == expected_header
    assert list(loaded.events) == expected_events and len(expected_events) == 2


def test_a_header_field_that_rarely_changes_is_saved_when_it_does(store: Any, persisted: Callable[[], Any]) -> None:
    record = make_record()
    store.insert_instance(record)
    store.save_header(record)
    record.params = json.dumps({"changed": UNICODE}, ensure_ascii=False)
    record.created_ms = START_MS - HOUR
    store.save_header(record)
    loaded = persisted().load_instance("orders", "i1")
    assert (loaded.params, loaded.created_ms) == (record.params, START_MS - HOUR)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"params": json.dumps(NESTED, ensure_ascii=False), "output": json.dumps(UNICODE, ensure_ascii=False)},
        {"error": {"name": "Error", "message": "lone \ud800 surrogate"}},
        {"status": "complete", "end_ms": FLOATS[6], "status_ms": -0.0, "pause_ms": 1e-300, "next_seq": 2**70},
        {"queued_ms": 5, "start_ms": math.inf, "end_ms": math.nan, "next_seq": True, "created_ms": math.nan},
        {"created_ms": 1_767_225_600_000, "workflow": UNICODE, "id": "i2"},
        {"modifiers": {"events": [{"type": "x", "payload": "1"}]}, "schedule": {"cron": "* * * * *", "scheduledTime": 1}},
        {"status": "not a status", "modifiers": None, "output": 7, "schedule": []},
    ],
)
def test_the_saved_header_is_the_json_of_every_header_field(fields: dict[str, Any]) -> None:
    """``header_text`` (what the SQLite store saves) is the compact JSON of ``header_json``,
    whatever the fields hold, and it follows changes after an earlier call."""
    record = InstanceRecord("orders", "i1", "{}", START_MS, queued_ms=START_MS)
    record.header_text()
    for name, value in fields.items():
        setattr(record, name, value)
    header = record.header_json()
    try:
        expected = json.dumps(header, separators=(",", ":"), ensure_ascii=False)
        expected.encode("utf-8")
    except UnicodeEncodeError:
        expected = json.dumps(header, separators=(",", ":"), ensure_ascii=True)
    assert record.header_text() == expected


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"name": UNICODE, "result": json.dumps(NESTED, ensure_ascii=False), "config": {"nested": NESTED}},
        {"state": "error", "error": {"name": "Error", "message": "lone \ud800 surrogate"}},
        {"start_ms": 5, "end_ms": math.inf, "deadline_ms": math.nan, "count": 2**70, "seq": True},
        {"end_ms": -0.0, "deadline_ms": FLOATS[6], "attempts": []},
    ],
)
def test_a_saved_step_row_is_the_json_of_its_record(fields: dict[str, Any]) -> None:
    """What the SQLite store saves for a step (built field by field) is the compact JSON of the
    record with its newest attempt, whatever the fields hold."""
    from cfwf_emulator.store.sqlite import CURRENT_ATTEMPT, _step_json

    step = make_step(attempts=[{"start": 1 / 3, "end": None, "success": None, "error": None}])
    for name, value in fields.items():
        setattr(step, name, value)
    data = step.to_json()
    if step.attempts:
        data[CURRENT_ATTEMPT] = [len(step.attempts), step.attempts[-1]]
    try:
        expected = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        expected.encode("utf-8")
    except UnicodeEncodeError:
        expected = json.dumps(data, separators=(",", ":"), ensure_ascii=True)
    assert _step_json(step) == expected


def test_buffered_events_keep_their_order_through_takes_and_appends(store: Any, persisted: Callable[[], Any]) -> None:
    record = make_record()
    store.insert_instance(record)
    for index, kind in enumerate(["b", "approval", "b", "c"]):
        record.events.append({"type": kind, "payload": str(index), "ms": START_MS + index})
    store.save_header(record)
    assert record.events.take("approval")["payload"] == json.dumps(NESTED, ensure_ascii=False)
    assert record.events.take("b")["payload"] == "0"
    record.events.append({"type": "b", "payload": "4", "ms": START_MS + 4})
    store.save_header(record)
    loaded = persisted().load_instance("orders", "i1")
    assert [(e["type"], e["payload"]) for e in loaded.events] == [("approval", "1"), ("b", "2"), ("c", "3"), ("b", "4")]
    assert loaded.events.take("b")["payload"] == "2" and loaded.events.take("b")["payload"] == "4"


def test_save_step_persists_a_new_step(store: Any, persisted: Callable[[], Any]) -> None:
    record = make_record()
    store.insert_instance(record)
    step = make_step("ship", 1, 3)
    record.steps[step.key] = step
    store.save_step(record, step)
    loaded = persisted().load_instance("orders", "i1")
    assert loaded.steps[("do", "ship", 1)] == make_step("ship", 1, 3)
    assert len(loaded.steps) == 4


def test_save_step_with_header_persists_step_and_header_together(store: Any, persisted: Callable[[], Any]) -> None:
    record = make_record()
    store.insert_instance(record)
    step = StepRecord("waitForEvent", "approval", 1, 3, START_MS + 4 * SECOND, "ok",
                      end_ms=START_MS + 5 * SECOND, config={"type": "approval", "timeout": "1 hour"},
                      result='{"type":"approval","timestamp":1767225600005,"payload":{"ok":true}}')
    record.steps[step.key] = step
    assert record.events.take("approval") is not None  # the buffered event was consumed by this wait
    record.next_seq = 4
    store.save_step(record, step, header=True)
    loaded = persisted().load_instance("orders", "i1")
    assert loaded.steps[("waitForEvent", "approval", 1)] == step
    assert loaded.events == []
    assert loaded.next_seq == 4


def test_save_step_replaces_the_step_with_the_same_key(store: Any, persisted: Callable[[], Any]) -> None:
    record = make_record()
    store.insert_instance(record)
    charge = record.steps[("do", "charge", 1)]
    charge.attempts.append({"start": START_MS + HOUR, "end": START_MS + HOUR + 7.0, "success": True, "error": None})
    charge.state, charge.result, charge.end_ms, charge.deadline_ms = "ok", '"charged"', START_MS + HOUR + 7.0, None
    expected = copy.deepcopy(charge)
    store.save_step(record, charge)
    loaded = persisted().load_instance("orders", "i1")
    assert loaded.steps[("do", "charge", 1)] == expected
    assert len(loaded.steps[("do", "charge", 1)].attempts) == 2
    assert len(loaded.steps) == 3


def test_delete_steps_removes_only_those_steps_and_persists_the_header(store: Any, persisted: Callable[[], Any]) -> None:
    record = make_record()
    store.insert_instance(record)
    doomed = [record.steps[("do", "charge", 1)], record.steps[("sleep", "nap", 1)]]
    record.status = "queued"
    record.start_ms = None
    record.queued_ms = START_MS + HOUR
    store.delete_steps(record, doomed)
    loaded = persisted().load_instance("orders", "i1")
    assert set(loaded.steps) == {("do", "fetch", 1)}
    assert loaded.steps[("do", "fetch", 1)] == make_step("fetch", 1, 0)
    assert (loaded.status, loaded.start_ms, loaded.queued_ms) == ("queued", None, START_MS + HOUR)


def test_delete_instance_removes_it_and_leaves_the_others(store: Any, persisted: Callable[[], Any]) -> None:
    store.insert_instance(make_record("orders", "i1"))
    store.insert_instance(make_record("orders", "i2"))
    store.insert_instance(make_record("billing", "i1"))
    store.delete_instance("orders", "i1")
    view = persisted()
    assert view.load_instance("orders", "i1") is None
    assert view.instance_ids("orders") == ["i2"]
    assert view.load_instance("billing", "i1") == make_record("billing", "i1")


def test_a_deleted_id_created_again_starts_with_an_empty_journal(store: Any, persisted: Callable[[], Any]) -> None:
    store.insert_instance(make_record())
    store.delete_instance("orders", "i1")
    fresh = InstanceRecord("orders", "i1", "{}", START_MS + HOUR, queued_ms=START_MS + HOUR)
    store.insert_instance(fresh)
    loaded = persisted().load_instance("orders", "i1")
    assert loaded.steps == {}
    assert (loaded.params, loaded.created_ms, loaded.events, loaded.modifiers) == ("{}", START_MS + HOUR, [], {})


# -- listing --------------------------------------------------------------------------------


def test_instance_ids_are_oldest_first_and_per_workflow(store: Any, persisted: Callable[[], Any]) -> None:
    for workflow, instance_id in [("orders", "zeta"), ("billing", "b1"), ("orders", "alpha"),
                                  ("orders", "mid"), ("billing", "a0")]:
        store.insert_instance(make_record(workflow, instance_id))
    view = persisted()
    assert view.instance_ids("orders") == ["zeta", "alpha", "mid"]
    assert view.instance_ids("billing") == ["b1", "a0"]


def test_instances_inserted_after_reopening_are_listed_after_the_earlier_ones(
    store: Any, persisted: Callable[[], Any]
) -> None:
    store.insert_instance(make_record("orders", "zeta"))
    store.insert_instance(make_record("orders", "alpha"))
    reopened = persisted()
    reopened.insert_instance(make_record("orders", "beta"))
    reopened.insert_instance(make_record("orders", "aaa"))
    assert persisted().instance_ids("orders") == ["zeta", "alpha", "beta", "aaa"]


def test_an_id_created_again_after_delete_is_listed_as_newest(store: Any, persisted: Callable[[], Any]) -> None:
    for instance_id in ("a", "b", "c"):
        store.insert_instance(make_record("orders", instance_id))
    store.delete_instance("orders", "a")
    store.insert_instance(make_record("orders", "a"))
    assert persisted().instance_ids("orders") == ["b", "c", "a"]


def listed(instance_id: str, n: int, status: str = "queued", workflow: str = "orders") -> InstanceRecord:
    """A new instance created ``n`` minutes after START_MS."""
    created = START_MS + n * MINUTE
    return InstanceRecord(workflow, instance_id, "{}", created, status=status, queued_ms=created)


def summary(instance_id: str, n: int, status: str, modified: float | None = None) -> InstanceSummary:
    created = START_MS + n * MINUTE
    return InstanceSummary(instance_id, status, created, created if modified is None else modified)


def test_a_listing_pages_through_instances_newest_first_by_status_and_creation_time(
    store: Any, persisted: Callable[[], Any]
) -> None:
    cycle = ["running", "errored", "complete"]
    store.insert_instances([listed(f"i{n}", n, cycle[n % 3]) for n in range(10)])
    store.insert_instance(listed("other", 99, "errored", workflow="billing"))
    view = persisted()
    everything = [summary(f"i{n}", n, cycle[n % 3]) for n in reversed(range(10))]
    assert view.list_instances("orders", limit=100) == everything
    assert view.list_instances("orders", limit=3, offset=3) == everything[3:6]
    assert view.list_instances("orders", limit=3, offset=9) == everything[9:]
    assert view.list_instances("orders", limit=3, offset=10) == []
    assert view.list_instances("orders", limit=100, newest_first=False) == everything[::-1]
    errored = [s for s in everything if s.status == "errored"]
    assert [s.id for s in errored] == ["i7", "i4", "i1"]
    assert view.list_instances("orders", status="errored", limit=2) == errored[:2]
    assert view.list_instances("orders", status="errored", limit=2, offset=2) == errored[2:]
    assert view.list_instances("orders", status="paused", limit=10) == []
    within = view.list_instances(
        "orders", limit=100, created_from_ms=START_MS + 2 * MINUTE, created_to_ms=START_MS + 4 * MINUTE
    )
    assert [s.id for s in within] == ["i4", "i3", "i2"]
    assert view.list_instances("billing", limit=10) == [summary("other", 99, "errored")]
    assert view.list_instances("nobody", limit=10) == []


def test_instances_are_counted_per_status_in_status_order(store: Any, persisted: Callable[[], Any]) -> None:
    statuses = ["complete", "queued", "complete", "errored", "waiting", "complete"]
    store.insert_instances([listed(f"i{n}", n, status) for n, status in enumerate(statuses)])
    store.insert_instance(listed("other", 0, "paused", workflow="billing"))
    view = persisted()
    counts = view.count_instances("orders")
    assert counts == {"queued": 1, "errored": 1, "complete": 3, "waiting": 1}
    assert list(counts) == [s for s in STATUSES if s in counts]
    assert view.count_instances("orders", created_from_ms=START_MS + 2 * MINUTE) == {
        "errored": 1, "complete": 2, "waiting": 1,
    }
    assert view.count_instances("orders", created_to_ms=START_MS) == {"complete": 1}
    assert view.count_instances("nobody") == {}


def test_a_listing_refuses_an_unknown_status_and_a_negative_page(store: Any) -> None:
    store.insert_instance(listed("i1", 0))
    with pytest.raises(ValueError, match="unknown status 'done': valid statuses are queued, running"):
        store.list_instances("orders", status="done", limit=10)
    for bad in ({"limit": -1}, {"limit": 10, "offset": -5}, {"limit": 2.5}, {"limit": True}):
        with pytest.raises(ValueError, match="must be an int >= 0"):
            store.list_instances("orders", **bad)
    for bound in (float("nan"), float("inf"), "2026-01-01", True):
        with pytest.raises(ValueError, match="must be None or a finite number of epoch ms"):
            store.list_instances("orders", limit=1, created_from_ms=bound)
        with pytest.raises(ValueError, match="must be None or a finite number of epoch ms"):
            store.count_instances("orders", created_to_ms=bound)


def test_the_modified_time_follows_header_writes_and_never_goes_back(
    store: Any, persisted: Callable[[], Any]
) -> None:
    instance = listed("i1", 0)
    store.insert_instance(instance)
    instance.status, instance.status_ms, instance.start_ms = "running", START_MS + MINUTE, START_MS + MINUTE
    store.save_header(instance)
    assert persisted().list_instances("orders", limit=1) == [summary("i1", 0, "running", START_MS + MINUTE)]
    step = StepRecord("do", "charge", 1, 0, START_MS + 2 * MINUTE, "ok", end_ms=START_MS + 3 * MINUTE)
    instance.steps[step.key] = step
    store.save_step(instance, step, header=True)  # a new step goes with its header
    assert persisted().list_instances("orders", limit=1)[0].modified_ms == START_MS + 3 * MINUTE
    instance.status, instance.status_ms = "paused", START_MS + 2 * MINUTE  # a clock set back
    store.save_header(instance)
    assert persisted().list_instances("orders", limit=1) == [summary("i1", 0, "paused", START_MS + 3 * MINUTE)]
    instance.status, instance.status_ms = "errored", START_MS + HOUR
    instance.end_ms = START_MS + HOUR
    store.delete_steps(instance, [step])
    assert persisted().list_instances("orders", limit=1) == [summary("i1", 0, "errored", START_MS + HOUR)]


def test_a_deleted_instance_leaves_the_listing_and_its_id_created_again_is_newest(
    store: Any, persisted: Callable[[], Any]
) -> None:
    store.insert_instances([listed("a", 0), listed("b", 1), listed("c", 2)])
    store.delete_instance("orders", "a")
    store.insert_instance(listed("a", 3, "running"))
    view = persisted()
    assert [s.id for s in view.list_instances("orders", limit=10)] == ["a", "c", "b"]
    assert view.count_instances("orders") == {"queued": 2, "running": 1}


# -- JSON round trip ------------------------------------------------------------------------


def test_unicode_nested_payloads_and_floats_round_trip_exactly(store: Any, persisted: Callable[[], Any]) -> None:
    payload = {"nested": NESTED, "floats": FLOATS, UNICODE: UNICODE}
    text = json.dumps(payload, ensure_ascii=False)
    record = InstanceRecord("orders", "u1", text, 1_767_225_600_000.5, queued_ms=1_767_225_600_000.25,
                            output=text, events=[{"type": "t", "payload": text, "ms": 0.1 + 0.2}],
                            modifiers={"results": {f"{UNICODE}#1": text}, "nested": payload},
                            next_seq=1)  # its one step has number 0
    step = StepRecord("do", f"étape 🚀 {UNICODE}", 1, 0, 1_767_225_600_000.333, "ok",
                      end_ms=1_767_225_600_001.999, result=text, config={"floats": FLOATS, "nested": NESTED},
                      attempts=[{"start": 1 / 3, "end": 2 / 3, "success": True, "error": None}])
    record.steps[step.key] = step
    expected = copy.deepcopy(record)
    store.insert_instance(record)
    loaded = persisted().load_instance("orders", "u1")
    assert loaded == expected
    loaded_step = loaded.steps[("do", f"étape 🚀 {UNICODE}", 1)]
    assert json.loads(loaded_step.result) == payload
    assert json.loads(loaded.output) == payload
    assert loaded.modifiers["nested"] == payload
    stored_floats = loaded_step.config["floats"]
    assert [repr(x) for x in stored_floats] == [repr(x) for x in FLOATS]
    assert math.copysign(1.0, stored_floats[5]) == -1.0  # -0.0 keeps its sign
    assert loaded.created_ms == 1_767_225_600_000.5 and loaded_step.attempts[0]["start"] == 1 / 3


# -- the same workflow on both stores ------------------------------------------------------

CALLS: dict[str, int] = {}


class RetrySleepEvent(WorkflowEntrypoint):
    """A step that fails once (retried after 30 s), a 1-hour sleep, then an event wait."""

    async def run(self, event, step):
        @step.do("flaky", config={"retries": {"limit": 2, "delay": "30 seconds", "backoff": "constant"}})
        async def flaky():
            CALLS["flaky"] = CALLS.get("flaky", 0) + 1
            if CALLS["flaky"] == 1:
                raise ValueError("first attempt fails")
            return {"attempt": CALLS["flaky"], "text": UNICODE, "x": 0.1 + 0.2}

        first = await flaky()
        await step.sleep("nap", "1 hour")
        approval = await step.wait_for_event("approval", "approval", timeout="2 hours")
        return {"first": first, "approved": approval["payload"]}


def iso_ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000.0


async def run_scenario(storage: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    CALLS.clear()
    emu = Emulator(clock=VirtualClock(START_MS, autojump=False), storage=storage)
    emu.add_workflow("scenario", RetrySleepEvent, binding="SCENARIO")
    async with emu:
        inst = await emu.env.SCENARIO.create(id="s1", params={"who": UNICODE})
        await inst.send_event(type="approval", payload={"by": "ana", "nested": NESTED})
        await emu.run_until_idle()
        return await inst.status(), await inst.describe()


async def test_workflow_with_retry_sleep_and_event_completes_on_each_store(store: Any) -> None:
    status, described = await run_scenario(store)
    assert status == {
        "status": "complete",
        "output": {
            "first": {"attempt": 2, "text": UNICODE, "x": 0.1 + 0.2},
            "approved": {"by": "ana", "nested": NESTED},
        },
    }
    assert CALLS == {"flaky": 2}
    steps = described["steps"]
    assert [(s["type"], s["name"], s.get("success", s.get("finished"))) for s in steps] == [
        ("step", "flaky-1", True), ("sleep", "nap-1", True), ("waitForEvent", "approval-1", True),
    ]
    attempts = steps[0]["attempts"]
    assert [a["success"] for a in attempts] == [False, True]
    assert attempts[0]["error"] == {"name": "ValueError", "message": "first attempt fails"}
    assert iso_ms(attempts[1]["start"]) == START_MS + 30 * SECOND
    assert iso_ms(steps[1]["end"]) == START_MS + 30 * SECOND + HOUR
    assert iso_ms(described["end"]) == START_MS + 30 * SECOND + HOUR


async def test_describe_is_identical_on_memory_and_sqlite(tmp_path: Path) -> None:
    on_memory = await run_scenario("memory")
    on_sqlite = await run_scenario(f"sqlite:///{tmp_path / 'state.db'}")
    assert on_memory[0]["status"] == "complete"
    assert on_sqlite == on_memory


class SleepBetweenSteps(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("before")
        def before_step():
            return CALLS.__setitem__("before", CALLS.get("before", 0) + 1) or "b"

        before = await before_step()
        await step.sleep("nap", "1 hour")

        @step.do("after")
        def after_step():
            return CALLS.__setitem__("after", CALLS.get("after", 0) + 1) or "a"

        after = await after_step()
        return [before, after]


async def test_a_new_emulator_on_the_same_store_resumes_without_rerunning_steps(store: Any) -> None:
    CALLS.clear()
    first = Emulator(clock=VirtualClock(START_MS, autojump=False), storage=store)
    first.add_workflow("sleepy", SleepBetweenSteps, binding="SLEEPY")
    async with first:
        await first.env.SLEEPY.create(id="n1")
        await first.advance("10 minutes")
        assert CALLS == {"before": 1}
    second = Emulator(clock=VirtualClock(START_MS + 20 * MINUTE, autojump=False), storage=store)
    second.add_workflow("sleepy", SleepBetweenSteps, binding="SLEEPY")
    async with second:
        await second.run_until_idle()
        inst = await second.env.SLEEPY.get("n1")
        assert await inst.status() == {"status": "complete", "output": ["b", "a"]}
        assert iso_ms((await inst.describe())["end"]) == START_MS + HOUR
    assert CALLS == {"before": 1, "after": 1}
