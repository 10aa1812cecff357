"""Odd and hostile input to every public KV, D1 and R2 method gets a specific error, never a raw one.

Non-finite numbers, numbers beyond what the Workers runtime passes on (32-bit integers), wrong
types, lone surrogates (text UTF-8 cannot encode, which Cloudflare would silently turn into
U+FFFD), NUL characters and path-like keys: each is either handled as Cloudflare handles it or
refused with an error saying what is wrong. A raw ``OverflowError``, ``UnicodeEncodeError`` or
``sqlite3`` error is a failure here.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

from cfwf_emulator.resources import D1Database, D1Error, KVError, KVNamespace, R2Bucket, R2Error

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
START_S = 1_767_225_600
OUT_OF_RANGE = "Value out of range. Must be between -2147483648 and 2147483647 (inclusive)."
LONE = "a\ud800b"


@pytest.fixture
def kv() -> KVNamespace:
    return KVNamespace("KV", lambda: START_MS)


@pytest.fixture
def db() -> D1Database:
    return D1Database("DB")


@pytest.fixture
def bucket(tmp_path: Path) -> R2Bucket:
    return R2Bucket("BUCKET", tmp_path / "bucket", now_ms=lambda: START_MS)


def notes(error: BaseException) -> str:
    return "\n".join(getattr(error, "__notes__", []))


# -- KV: numbers as the Workers runtime passes them (32-bit integers) --------------------------


@pytest.mark.parametrize("ttl", [math.inf, -math.inf, math.nan])
async def test_kv_non_finite_expiration_ttl_is_kvs_error(kv: KVNamespace, ttl: float) -> None:
    with pytest.raises(KVError) as info:
        await kv.put("k", "v", expirationTtl=ttl)
    assert str(info.value) == "KV PUT failed: 400 Invalid expiration_ttl of 0. Please specify integer greater than 0."
    assert "NaN and the infinities" in notes(info.value)
    assert await kv.get("k") is None


@pytest.mark.parametrize("expiration", [math.inf, -math.inf, math.nan])
async def test_kv_non_finite_expiration_is_kvs_error(kv: KVNamespace, expiration: float) -> None:
    with pytest.raises(KVError) as info:
        await kv.put("k", "v", expiration=expiration)
    assert str(info.value) == (
        "KV PUT failed: 400 Invalid expiration of 0. Please specify integer greater than the current "
        "number of seconds since the UNIX epoch."
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("expirationTtl", 2**31),
        ("expirationTtl", 1e10),
        ("expirationTtl", 10**400),
        ("expirationTtl", 1e308),
        ("expiration", START_S * 1000),  # milliseconds where seconds belong
        ("expiration", -(2**31) - 1),
    ],
)
async def test_kv_numbers_beyond_32_bits_are_the_runtimes_type_error(kv: KVNamespace, option: str, value: Any) -> None:
    with pytest.raises(TypeError) as info:
        await kv.put("k", "v", **{option: value})
    assert str(info.value) == OUT_OF_RANGE
    assert option in notes(info.value)


async def test_kv_fractional_ttl_is_cut_to_whole_seconds(kv: KVNamespace) -> None:
    await kv.put("k", "v", expirationTtl=90.9)
    assert (await kv.list())["keys"][0]["expiration"] == START_S + 90
    with pytest.raises(KVError) as info:
        await kv.put("k", "v", expirationTtl=59.9)
    assert str(info.value) == "KV PUT failed: 400 Invalid expiration_ttl of 59. Expiration TTL must be at least 60."


@pytest.mark.parametrize("value", ["120", b"120", [120], True, None.__class__])
async def test_kv_expiration_ttl_of_another_type_is_a_type_error(kv: KVNamespace, value: Any) -> None:
    with pytest.raises(TypeError, match="expirationTtl .*must be a number"):
        await kv.put("k", "v", expirationTtl=value)


@pytest.mark.parametrize(
    ("value", "error", "text"),
    [
        (math.inf, KVError, "KV GET failed: 400 Invalid cache_ttl of 0. Cache TTL must be at least 60."),
        (math.nan, KVError, "KV GET failed: 400 Invalid cache_ttl of 0. Cache TTL must be at least 60."),
        (1e12, TypeError, OUT_OF_RANGE),
        ("60", TypeError, "cacheTtl (seconds) must be a number, got '60'"),
    ],
)
async def test_kv_bad_cache_ttl(kv: KVNamespace, value: Any, error: type, text: str) -> None:
    with pytest.raises(error) as info:
        await kv.get("k", cacheTtl=value)
    assert str(info.value) == text


@pytest.mark.parametrize("limit", [math.inf, math.nan, 0, -5])
async def test_kv_list_limit_the_runtime_drops_means_the_default(kv: KVNamespace, limit: float) -> None:
    await kv.put("k", "v")
    assert (await kv.list(limit=limit))["list_complete"] is True


@pytest.mark.parametrize(("limit", "error"), [(1e12, TypeError), ("10", TypeError), (1001, KVError)])
async def test_kv_list_limit_refused(kv: KVNamespace, limit: Any, error: type) -> None:
    with pytest.raises(error):
        await kv.list(limit=limit)


# -- KV: keys, values and text -----------------------------------------------------------------


KV_CALLS: dict[str, Callable[[KVNamespace, str], Awaitable[Any]]] = {
    "get": lambda kv, key: kv.get(key),
    "getWithMetadata": lambda kv, key: kv.getWithMetadata(key),
    "bulk get": lambda kv, key: kv.get(["ok", key]),
    "put": lambda kv, key: kv.put(key, "v"),
    "delete": lambda kv, key: kv.delete(key),
}


@pytest.mark.parametrize("call", list(KV_CALLS))
async def test_kv_key_with_a_lone_surrogate_is_refused(kv: KVNamespace, call: str) -> None:
    with pytest.raises(TypeError) as info:
        await KV_CALLS[call](kv, LONE)
    message = str(info.value)
    assert "lone surrogate (U+D800 at index 1)" in message and "U+FFFD" in message


@pytest.mark.parametrize("call", list(KV_CALLS))
@pytest.mark.parametrize("key", [b"k", None, 7, 1.5])
async def test_kv_key_of_another_type_is_a_type_error(kv: KVNamespace, call: str, key: Any) -> None:
    with pytest.raises(TypeError):
        await KV_CALLS[call](kv, key)


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a\x00b", "\x00", "é😀", "a/../../b", "\\"])
async def test_kv_path_like_and_nul_keys_are_just_keys(kv: KVNamespace, key: str) -> None:
    await kv.put(key, "v")
    assert await kv.get(key) == "v"
    assert [item["name"] for item in (await kv.list())["keys"]] == [key]


async def test_kv_value_with_a_lone_surrogate_is_refused(kv: KVNamespace) -> None:
    with pytest.raises(TypeError, match=r"the value has a lone surrogate"):
        await kv.put("k", "x\udc00")
    assert await kv.get("k") is None


async def test_kv_list_prefix_with_a_lone_surrogate_is_refused(kv: KVNamespace) -> None:
    with pytest.raises(TypeError, match="prefix has a lone surrogate"):
        await kv.list(prefix=LONE)


@pytest.mark.parametrize("metadata", [{"x": math.nan}, {"x": {1, 2}}, object()])
async def test_kv_metadata_that_is_not_json_is_a_type_error(kv: KVNamespace, metadata: Any) -> None:
    with pytest.raises(TypeError, match="JSON-serialisable"):
        await kv.put("k", "v", metadata=metadata)


# -- D1 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
async def test_d1_non_finite_numbers_bind_as_null_as_json_sends_them(db: D1Database, value: float) -> None:
    assert await db.prepare("SELECT ? AS v, typeof(?) AS t").bind(value, value).first() == {"v": None, "t": "null"}


async def test_d1_bound_text_with_a_lone_surrogate_is_refused_at_bind(db: D1Database) -> None:
    statement = db.prepare("SELECT ?, ?")
    with pytest.raises(D1Error) as info:
        statement.bind("fine", LONE)
    assert str(info.value).startswith("D1_ERROR: bind(): value 2 has a lone surrogate (U+D800 at index 1)")


async def test_d1_bound_text_with_nul_round_trips(db: D1Database) -> None:
    assert await db.prepare("SELECT ? AS v").bind("a\x00b").first("v") == "a\x00b"


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        (f"SELECT '{LONE}'", "the SQL text has a lone surrogate (U+D800 at index 9)"),
        ("SELECT 1\x00; DROP TABLE t", "the SQL text has a NUL character (at index 8)"),
    ],
)
async def test_d1_sql_text_utf8_cannot_carry_is_a_d1_error(db: D1Database, sql: str, problem: str) -> None:
    with pytest.raises(D1Error) as info:
        await db.prepare(sql).all()
    assert str(info.value).startswith(f"D1_ERROR: {problem}")
    with pytest.raises(D1Error) as exec_info:
        await db.exec(sql)
    assert str(exec_info.value).startswith(f"D1_EXEC_ERROR: Error in line 1: {sql}: {problem}")
    with pytest.raises(D1Error):
        await db.batch([db.prepare(sql)])


async def test_d1_oversized_values_and_statements_are_d1_errors(db: D1Database) -> None:
    with pytest.raises(D1Error, match=r"^D1_ERROR: string or blob too big: SQLITE_TOOBIG$"):
        await db.prepare("SELECT ?").bind("x" * 2_000_001).all()
    with pytest.raises(D1Error, match=r"^D1_ERROR: statement too long: SQLITE_TOOBIG$"):
        await db.prepare("SELECT '" + "x" * 100_000 + "'").all()


@pytest.mark.parametrize(
    "call",
    [
        lambda db: db.prepare(b"SELECT 1"),
        lambda db: db.prepare(None),
        lambda db: db.exec(b"SELECT 1"),
        lambda db: db.batch("SELECT 1"),
        lambda db: db.batch([db.prepare("SELECT 1"), "SELECT 2"]),
    ],
)
async def test_d1_arguments_of_the_wrong_type_are_type_errors(db: D1Database, call: Callable[[D1Database], Any]) -> None:
    with pytest.raises(TypeError):
        result = call(db)
        if hasattr(result, "__await__"):
            await result


@pytest.mark.parametrize("column", [1, None.__class__, "nope"])
async def test_d1_first_with_an_unknown_column(db: D1Database, column: Any) -> None:
    with pytest.raises(D1Error, match="^D1_COLUMN_NOTFOUND"):
        await db.prepare("SELECT 1 AS a").first(column)


async def test_d1_never_raises_a_raw_sqlite3_error(db: D1Database) -> None:
    statements = ["SELEC 1", "SELECT * FROM nope", "ATTACH 'x' AS y", "BEGIN", "PRAGMA journal_mode", ""]
    for sql in statements:
        for run in (lambda: db.prepare(sql).all(), lambda: db.exec(sql), lambda: db.batch([db.prepare(sql)])):
            with pytest.raises(D1Error) as info:
                await run()
            assert not isinstance(info.value, sqlite3.Error)


# -- R2 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (lambda b: b.put("k", LONE), "R2 put(): the value has a lone surrogate"),
        (lambda b: b.put("k", "v", customMetadata={LONE: "v"}), "customMetadata name"),
        (lambda b: b.put("k", "v", customMetadata={"n": LONE}), "customMetadata['n'] has a lone surrogate"),
        (lambda b: b.put("k", "v", httpMetadata={"contentType": LONE}), "httpMetadata.contentType has a lone"),
        (lambda b: b.list(prefix=LONE), "R2 list(): prefix has a lone surrogate"),
        (lambda b: b.list(startAfter=LONE), "R2 list(): startAfter has a lone surrogate"),
        (lambda b: b.list(delimiter=LONE), "R2 list(): delimiter has a lone surrogate"),
    ],
)
async def test_r2_text_with_a_lone_surrogate_is_refused(bucket: R2Bucket, call: Any, text: str) -> None:
    with pytest.raises(TypeError) as info:
        await call(bucket)
    assert text in str(info.value)
    assert await bucket.head("k") is None


@pytest.mark.parametrize("action", ["head", "get", "put", "delete"])
async def test_r2_key_with_a_lone_surrogate_is_an_invalid_name(bucket: R2Bucket, action: str) -> None:
    call = getattr(bucket, action)
    with pytest.raises(R2Error, match=r"The specified object name is not valid\. \(10020\)$"):
        await (call(LONE, "v") if action == "put" else call(LONE))


@pytest.mark.parametrize(
    "only_if",
    [
        {"etagMatches": 5},
        {"etagDoesNotMatch": ["a", None]},
        {"uploadedBefore": "yesterday"},
        {"uploadedAfter": START_MS},
    ],
)
@pytest.mark.parametrize("action", ["get", "put"])
async def test_r2_only_if_of_the_wrong_type_is_a_type_error(bucket: R2Bucket, only_if: dict, action: str) -> None:
    await bucket.put("k", "v")
    with pytest.raises(TypeError, match="onlyIf"):
        if action == "get":
            await bucket.get("k", onlyIf=only_if)
        else:
            await bucket.put("k", "new", onlyIf=only_if)
    assert await (await bucket.get("k")).text() == "v"


async def test_r2_only_if_with_a_datetime_still_works(bucket: R2Bucket) -> None:
    await bucket.put("k", "v")
    result = await bucket.get("k", onlyIf={"uploadedAfter": datetime(2030, 1, 1)})
    assert result is not None and not hasattr(result, "body")


@pytest.mark.parametrize("value", [math.inf, math.nan, -1, 1.5, "0", True])
async def test_r2_range_numbers_must_be_non_negative_ints(bucket: R2Bucket, value: Any) -> None:
    await bucket.put("k", "value")
    with pytest.raises(TypeError, match="range.offset must be a non-negative int"):
        await bucket.get("k", range={"offset": value})


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a\x00b", "é😀", "objects/../../x", ".tmp-x"])
async def test_r2_path_like_and_nul_keys_stay_in_the_bucket(tmp_path: Path, key: str) -> None:
    bucket = R2Bucket("BUCKET", tmp_path / "bucket")
    await bucket.put(key, "v")
    reopened = R2Bucket("BUCKET", tmp_path / "bucket")
    assert await (await reopened.get(key)).text() == "v"
    assert all((tmp_path / "bucket" / "objects") in path.parents for path in tmp_path.rglob("*") if path.is_file())
