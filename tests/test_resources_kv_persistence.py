"""A persisted KV namespace: one row per key, flat write cost, old saves still load, corrupt rows.

``PersistentKVNamespace`` is what ``Emulator.from_config`` binds for a KV namespace when storage
is durable. Each ``put``/``delete`` writes one row, so a write costs the same whatever the
namespace holds; namespaces saved by earlier versions as one row load (and are converted); a
corrupt row makes only its own key unreadable, with an error naming the binding and the key.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator.project import PersistentKVNamespace
from cfwf_emulator.store.sqlite import SQLiteStore, StoreError

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
START_S = 1_767_225_600


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.ms = START_MS

    def now_ms(self) -> float:
        return self.ms


def legacy_namespace(binding: str, entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A namespace as cfwf-emulator saved it before keys had rows of their own (one row)."""
    return {"version": 1, "binding": binding, "entries": entries}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def resource_rows(path: Path) -> dict[str, str]:
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT name, data FROM resources ORDER BY name").fetchall())
    finally:
        db.close()


def write_row(path: Path, name: str, data: str) -> None:
    db = sqlite3.connect(path)
    try:
        with db:
            db.execute("INSERT OR REPLACE INTO resources (name, data) VALUES (?, ?)", (name, data))
    finally:
        db.close()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    store = SQLiteStore(path)
    store.write_resources(deletes=["kv:NONE:none"])  # the first write creates the state file
    store.close()
    return path


def attach(store: SQLiteStore, binding: str = "INDEX", clock: Clock | None = None) -> PersistentKVNamespace:
    return PersistentKVNamespace.attach(binding, (clock or Clock()).now_ms, store)


# -- one row per key ---------------------------------------------------------------------------


async def write_cost(path: Path, keys: int, operation: str) -> tuple[int, int]:
    """SQL statements and bytes of SQL text one put/delete costs in a namespace of ``keys`` keys."""
    store = SQLiteStore(path)
    entries = {f"key-{index:05d}": {"value": b64("v" * 40)} for index in range(keys)}
    store.save_resource("kv:INDEX", legacy_namespace("INDEX", entries))
    namespace = attach(store)
    await namespace.put("first", "write")  # converts the one-row save to rows, once
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    if operation == "put":
        await namespace.put("key-00003", "a new value", expirationTtl=3600, metadata={"m": 1})
    else:
        await namespace.delete("key-00003")
    store._db.set_trace_callback(None)
    store.close()
    return len(statements), sum(len(sql.encode()) for sql in statements)


@pytest.mark.parametrize("operation", ["put", "delete"])
async def test_a_write_costs_the_same_at_10_and_4000_keys(tmp_path: Path, operation: str) -> None:
    small = await write_cost(tmp_path / "small.db", 10, operation)
    large = await write_cost(tmp_path / "large.db", 4000, operation)
    assert small == large
    assert small[1] < 1000  # one row's worth of SQL, not the namespace's


async def test_each_key_is_its_own_row(state: Path) -> None:
    store = SQLiteStore(state)
    namespace = attach(store)
    await namespace.put("a", "1")
    await namespace.put("b", "2", metadata={"x": 1})
    await namespace.delete("a")
    store.close()
    rows = resource_rows(state)
    assert list(rows) == ["kv:INDEX:b"]
    store = SQLiteStore(state)
    again = attach(store)
    assert await again.get("a") is None
    assert (await again.getWithMetadata("b")).to_py() == {"value": "2", "metadata": {"x": 1}, "cacheStatus": None}
    store.close()


@pytest.mark.parametrize(
    "key", ["../x", "a:b", "kv:OTHER:z", "with\x00nul", "é ü 😀", " ", "%2F", "x" * 512]
)
async def test_any_key_survives_a_restart(state: Path, key: str) -> None:
    store = SQLiteStore(state)
    await attach(store).put(key, "value of " + key)
    store.close()
    store = SQLiteStore(state)
    namespace = attach(store)
    assert await namespace.get(key) == "value of " + key
    assert [item["name"] for item in (await namespace.list())["keys"]] == [key]
    store.close()


async def test_namespaces_with_overlapping_names_stay_apart(state: Path) -> None:
    store = SQLiteStore(state)
    await attach(store, "A").put("k", "in A")
    await attach(store, "AB").put("k", "in AB")
    await attach(store, "A").put("B:k", "in A too")
    store.close()
    store = SQLiteStore(state)
    a, ab = attach(store, "A"), attach(store, "AB")
    assert await a.get("k") == "in A" and await ab.get("k") == "in AB"
    assert [item["name"] for item in (await ab.list())["keys"]] == ["k"]
    assert [item["name"] for item in (await a.list())["keys"]] == ["B:k", "k"]
    store.close()


async def test_expired_keys_are_not_loaded_and_their_rows_go(state: Path) -> None:
    clock = Clock()
    store = SQLiteStore(state)
    namespace = attach(store, clock=clock)
    await namespace.put("short", "x", expirationTtl=60)
    await namespace.put("long", "y")
    store.close()
    clock.ms += 61_000
    store = SQLiteStore(state)
    again = attach(store, clock=clock)
    assert await again.get("short") is None and await again.get("long") == "y"
    assert set(resource_rows(state)) == {"kv:INDEX:short", "kv:INDEX:long"}  # loading writes nothing
    await again.put("next", "z")
    store.close()
    assert list(resource_rows(state)) == ["kv:INDEX:long", "kv:INDEX:next"]


def test_a_binding_with_a_colon_is_refused(state: Path) -> None:
    store = SQLiteStore(state)
    with pytest.raises(ValueError, match="':'"):
        attach(store, "A:B")
    store.close()


# -- namespaces saved in the old one-row format ------------------------------------------------


async def test_a_namespace_saved_in_one_row_still_loads(state: Path) -> None:
    store = SQLiteStore(state)
    store.save_resource(
        "kv:INDEX",
        legacy_namespace(
            "INDEX",
            {
                "plain": {"value": b64("one")},
                "rich": {"value": b64("two"), "expiration": START_S + 3600, "metadata": {"k": [1, 2]}},
            },
        ),
    )
    namespace = attach(store)
    assert await namespace.get("plain") == "one"
    rich = await namespace.getWithMetadata("rich")
    assert rich["value"] == "two" and rich["metadata"] == {"k": [1, 2]}
    assert (await namespace.list())["keys"][1]["expiration"] == START_S + 3600
    assert list(resource_rows(state)) == ["kv:INDEX"]  # loading writes nothing
    await namespace.delete("plain")  # a key that came from the old row; the first write converts
    store.close()
    assert list(resource_rows(state)) == ["kv:INDEX:rich"]  # converted: the old row is gone
    store = SQLiteStore(state)
    again = attach(store)
    assert await again.get("plain") is None and await again.get("rich") == "two"
    store.close()


# -- corrupt rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    ["{not json", '"a string"', '{"value": "***"}', '{"metadata": 1}', '{"value": "", "expiration": "soon"}'],
)
async def test_a_corrupt_key_row_names_binding_and_key_and_blocks_nothing_else(state: Path, data: str) -> None:
    store = SQLiteStore(state)
    await attach(store).put("good", "fine")
    await attach(store, "OTHER").put("k", "other")
    store.close()
    write_row(state, "kv:INDEX:bad key", data)
    store = SQLiteStore(state)
    namespace = attach(store)
    with pytest.raises(StoreError) as info:
        await namespace.get("bad key")
    message = str(info.value)
    assert "INDEX" in message and "'bad key'" in message and "corrupt" in message
    assert "delete" in message  # and what to do
    with pytest.raises(StoreError):
        await namespace.getWithMetadata("bad key")
    with pytest.raises(StoreError):
        await namespace.get(["good", "bad key"])
    assert await namespace.get("good") == "fine"
    assert await attach(store, "OTHER").get("k") == "other"
    assert [item["name"] for item in (await namespace.list())["keys"]] == ["bad key", "good"]
    await namespace.put("bad key", "repaired")
    assert await namespace.get("bad key") == "repaired"
    store.close()
    store = SQLiteStore(state)
    assert await attach(store).get("bad key") == "repaired"
    store.close()


async def test_deleting_a_corrupt_key_clears_it(state: Path) -> None:
    write_row(state, "kv:INDEX:bad", "{")
    store = SQLiteStore(state)
    namespace = attach(store)
    await namespace.delete("bad")
    assert await namespace.get("bad") is None
    store.close()
    assert resource_rows(state) == {}


async def test_a_corrupt_one_row_namespace_fails_on_use_and_blocks_no_other(state: Path) -> None:
    store = SQLiteStore(state)
    await attach(store, "OTHER").put("k", "other")
    store.close()
    write_row(state, "kv:INDEX", "{truncated")
    store = SQLiteStore(state)
    namespace = attach(store)  # does not raise: the emulator still starts
    for call in (namespace.get("x"), namespace.put("x", "y"), namespace.list(), namespace.delete("x")):
        with pytest.raises(StoreError) as info:
            await call
        assert "INDEX" in str(info.value) and "kv:INDEX" in str(info.value)
    assert await attach(store, "OTHER").get("k") == "other"
    store.close()
    assert resource_rows(state)["kv:INDEX"] == "{truncated"  # kept for the user to repair


async def test_a_bad_entry_in_a_one_row_namespace_is_one_unreadable_key(state: Path) -> None:
    write_row(
        state,
        "kv:INDEX",
        '{"version": 1, "entries": {"ok": {"value": "' + b64("v") + '"}, "broken": {"value": 5}}}',
    )
    store = SQLiteStore(state)
    namespace = attach(store)
    assert await namespace.get("ok") == "v"
    with pytest.raises(StoreError, match="'broken'"):
        await namespace.get("broken")
    store.close()
