"""KVNamespace: Cloudflare KV's call shapes, limits, error texts and expirations in virtual time."""

from __future__ import annotations

import json

import pytest

from cfwf_emulator.resources import JsBytes, KVError, KVNamespace

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
START_S = 1_767_225_600


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.ms = START_MS

    def now_ms(self) -> float:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += seconds * 1000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kv(clock: FakeClock) -> KVNamespace:
    return KVNamespace("KV", clock.now_ms)


# -- get / put ---------------------------------------------------------------------------------


async def test_get_missing_key_is_none(kv: KVNamespace) -> None:
    assert await kv.get("nope") is None


async def test_put_then_get_text_by_default(kv: KVNamespace) -> None:
    await kv.put("k", "héllo")
    value = await kv.get("k")
    assert value == "héllo" and type(value) is str


async def test_get_json_by_positional_type(kv: KVNamespace) -> None:
    await kv.put("k", json.dumps({"a": [1, 2], "b": None}))
    assert await kv.get("k", "json") == {"a": [1, 2], "b": None}


async def test_get_json_by_keyword_type(kv: KVNamespace) -> None:
    await kv.put("k", '{"a": 1}')
    assert await kv.get("k", type="json") == {"a": 1}


async def test_get_json_by_options_dict(kv: KVNamespace) -> None:
    await kv.put("k", "[1, 2]")
    assert await kv.get("k", {"type": "json"}) == [1, 2]


async def test_json_objects_read_as_attributes_and_to_py(kv: KVNamespace) -> None:
    await kv.put("k", '{"user": {"name": "Ada"}, "tags": ["x"]}')
    value = await kv.get("k", "json")
    assert value.user.name == "Ada"
    plain = value.to_py()
    assert plain == {"user": {"name": "Ada"}, "tags": ["x"]}
    assert type(plain) is dict and type(plain["user"]) is dict and type(plain["tags"]) is list


async def test_get_array_buffer_returns_bytes(kv: KVNamespace) -> None:
    await kv.put("k", b"\x00\xffdata")
    value = await kv.get("k", "arrayBuffer")
    assert value == b"\x00\xffdata"
    assert isinstance(value, bytes) and isinstance(value, JsBytes)
    assert value.to_bytes() == b"\x00\xffdata" and value.byteLength == 6


async def test_put_accepts_bytearray_and_memoryview(kv: KVNamespace) -> None:
    await kv.put("a", bytearray(b"ab"))
    await kv.put("m", memoryview(b"cd"))
    assert await kv.get("a") == "ab"
    assert await kv.get("m", "arrayBuffer") == b"cd"


async def test_get_text_of_invalid_utf8_uses_replacement_char(kv: KVNamespace) -> None:
    await kv.put("k", b"a\xffb")
    assert await kv.get("k") == "a\ufffdb"


async def test_put_overwrites(kv: KVNamespace) -> None:
    await kv.put("k", "one")
    await kv.put("k", "two")
    assert await kv.get("k") == "two"


async def test_put_rejects_non_string_values_with_hint(kv: KVNamespace) -> None:
    with pytest.raises(TypeError) as info:
        await kv.put("k", {"a": 1})
    assert str(info.value).startswith(
        "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values"
    )
    assert "json.dumps(value)" in str(info.value)


@pytest.mark.parametrize("value", [42, 1.5, None, True, [1]])
async def test_put_rejects_other_types(kv: KVNamespace, value: object) -> None:
    with pytest.raises(TypeError, match="json.dumps"):
        await kv.put("k", value)


async def test_unknown_get_type(kv: KVNamespace) -> None:
    await kv.put("k", "v")
    with pytest.raises(TypeError) as info:
        await kv.get("k", "map")
    assert str(info.value) == (
        'Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".'
    )


async def test_stream_type_is_not_emulated(kv: KVNamespace) -> None:
    await kv.put("k", "v")
    with pytest.raises(NotImplementedError, match='type="stream"'):
        await kv.get("k", "stream")


async def test_cache_ttl_below_60_is_refused(kv: KVNamespace) -> None:
    with pytest.raises(KVError) as info:
        await kv.get("k", cacheTtl=30)
    assert str(info.value) == "KV GET failed: 400 Invalid cache_ttl of 30. Cache TTL must be at least 60."


async def test_cache_ttl_of_60_is_accepted_and_ignored(kv: KVNamespace) -> None:
    await kv.put("k", "v")
    assert await kv.get("k", type="text", cacheTtl=60) == "v"


async def test_snake_case_option_is_refused_with_hint(kv: KVNamespace) -> None:
    with pytest.raises(TypeError) as info:
        await kv.put("k", "v", expiration_ttl=120)
    assert "'expiration_ttl' (Cloudflare spells it 'expirationTtl')" in str(info.value)


async def test_options_dict_and_keywords_for_put(kv: KVNamespace, clock: FakeClock) -> None:
    await kv.put("a", "1", {"expirationTtl": 120})
    await kv.put("b", "2", expirationTtl=120)
    listed = await kv.list()
    assert [key["expiration"] for key in listed["keys"]] == [START_S + 120, START_S + 120]


# -- key rules -----------------------------------------------------------------------------------


async def test_empty_key_is_refused(kv: KVNamespace) -> None:
    with pytest.raises(TypeError, match=r"^Key name cannot be empty\.$"):
        await kv.put("", "v")


@pytest.mark.parametrize("key", [".", ".."])
async def test_dot_keys_are_refused(kv: KVNamespace, key: str) -> None:
    with pytest.raises(TypeError) as info:
        await kv.get(key)
    assert str(info.value) == f'"{key}" is not allowed as a key name.'


async def test_key_over_512_bytes_is_refused(kv: KVNamespace) -> None:
    with pytest.raises(KVError) as info:
        await kv.put("é" * 257, "v")  # 514 UTF-8 bytes
    assert str(info.value) == (
        "KV PUT failed: 414 UTF-8 encoded length of 514 exceeds key length limit of 512."
    )


async def test_key_of_512_bytes_is_accepted(kv: KVNamespace) -> None:
    await kv.put("k" * 512, "v")
    assert await kv.get("k" * 512) == "v"


async def test_non_string_key_is_a_type_error(kv: KVNamespace) -> None:
    with pytest.raises(TypeError, match="key must be a str"):
        await kv.get(1)


async def test_value_over_25_mib_is_refused(kv: KVNamespace) -> None:
    size = 25 * 1024 * 1024 + 1
    with pytest.raises(KVError) as info:
        await kv.put("k", b"x" * size)
    assert str(info.value) == f"KV PUT failed: 413 Value length of {size} exceeds limit of 26214400."


# -- expiration ----------------------------------------------------------------------------------


async def test_expiration_ttl_expires_in_virtual_time(kv: KVNamespace, clock: FakeClock) -> None:
    await kv.put("k", "v", expirationTtl=60)
    clock.advance(59.999)
    assert await kv.get("k") == "v"
    clock.advance(0.001)
    assert await kv.get("k") is None


async def test_expiration_ttl_below_60_is_refused(kv: KVNamespace) -> None:
    with pytest.raises(KVError) as info:
        await kv.put("k", "v", expirationTtl=30)
    assert str(info.value) == (
        "KV PUT failed: 400 Invalid expiration_ttl of 30. Expiration TTL must be at least 60."
    )


async def test_expiration_ttl_of_zero_is_refused(kv: KVNamespace) -> None:
    with pytest.raises(KVError) as info:
        await kv.put("k", "v", expirationTtl=0)
    assert str(info.value) == (
        "KV PUT failed: 400 Invalid expiration_ttl of 0. Please specify integer greater than 0."
    )


async def test_absolute_expiration_expires(kv: KVNamespace, clock: FakeClock) -> None:
    await kv.put("k", "v", expiration=START_S + 3600)
    clock.advance(3599)
    assert await kv.get("k") == "v"
    clock.advance(1)
    assert await kv.get("k") is None


async def test_expiration_in_the_past_is_refused(kv: KVNamespace) -> None:
    with pytest.raises(KVError) as info:
        await kv.put("k", "v", expiration=START_S)
    assert str(info.value) == (
        f"KV PUT failed: 400 Invalid expiration of {START_S}. Please specify integer greater than "
        "the current number of seconds since the UNIX epoch."
    )


async def test_expiration_less_than_60_seconds_ahead_is_refused(kv: KVNamespace) -> None:
    with pytest.raises(KVError) as info:
        await kv.put("k", "v", expiration=START_S + 30)
    assert str(info.value) == (
        f"KV PUT failed: 400 Invalid expiration of {START_S + 30}. "
        "Expiration times must be at least 60 seconds in the future."
    )


async def test_expired_keys_leave_list(kv: KVNamespace, clock: FakeClock) -> None:
    await kv.put("short", "v", expirationTtl=60)
    await kv.put("long", "v", expirationTtl=600)
    clock.advance(60)
    listed = await kv.list()
    assert [key["name"] for key in listed["keys"]] == ["long"]


async def test_put_without_ttl_clears_an_earlier_expiration(kv: KVNamespace, clock: FakeClock) -> None:
    await kv.put("k", "v", expirationTtl=60)
    await kv.put("k", "w")
    clock.advance(3600)
    assert await kv.get("k") == "w"


# -- metadata ------------------------------------------------------------------------------------


async def test_get_with_metadata_shape(kv: KVNamespace) -> None:
    await kv.put("k", "v", metadata={"owner": "ada", "n": 1})
    result = await kv.getWithMetadata("k")
    assert result == {"value": "v", "metadata": {"owner": "ada", "n": 1}, "cacheStatus": None}
    assert result.metadata.owner == "ada"


async def test_get_with_metadata_snake_case_alias_and_type(kv: KVNamespace) -> None:
    await kv.put("k", "[1]")
    result = await kv.get_with_metadata("k", type="json")
    assert result == {"value": [1], "metadata": None, "cacheStatus": None}


async def test_get_with_metadata_of_missing_key(kv: KVNamespace) -> None:
    assert await kv.getWithMetadata("nope") == {"value": None, "metadata": None, "cacheStatus": None}


async def test_metadata_over_1024_bytes_is_refused(kv: KVNamespace) -> None:
    metadata = {"x": "a" * 1020}  # {"x":"..."} is 1028 bytes
    with pytest.raises(KVError) as info:
        await kv.put("k", "v", metadata=metadata)
    assert str(info.value) == "KV PUT failed: 413 Metadata length of 1028 exceeds limit of 1024."


async def test_metadata_must_be_json(kv: KVNamespace) -> None:
    with pytest.raises(TypeError, match="metadata must be JSON-serialisable"):
        await kv.put("k", "v", metadata={"when": object()})


async def test_metadata_is_a_copy(kv: KVNamespace) -> None:
    metadata = {"n": 1}
    await kv.put("k", "v", metadata=metadata)
    metadata["n"] = 2
    first = await kv.getWithMetadata("k")
    first["metadata"]["n"] = 3
    assert (await kv.getWithMetadata("k"))["metadata"] == {"n": 1}


# -- delete ----------------------------------------------------------------------------------------


async def test_delete_removes_key(kv: KVNamespace) -> None:
    await kv.put("k", "v")
    assert await kv.delete("k") is None
    assert await kv.get("k") is None


async def test_delete_missing_key_is_fine(kv: KVNamespace) -> None:
    await kv.delete("nope")


# -- list ------------------------------------------------------------------------------------------


async def test_list_shape_when_complete(kv: KVNamespace) -> None:
    await kv.put("b", "v", expirationTtl=120, metadata={"m": 1})
    await kv.put("a", "v")
    result = await kv.list()
    assert result == {
        "keys": [{"name": "a"}, {"name": "b", "expiration": START_S + 120, "metadata": {"m": 1}}],
        "list_complete": True,
        "cacheStatus": None,
    }
    assert "cursor" not in result


async def test_list_keys_as_attribute(kv: KVNamespace) -> None:
    await kv.put("a", "v")
    result = await kv.list()
    assert [key.name for key in result.keys] == ["a"]
    assert list(result.keys()) == ["keys", "list_complete", "cacheStatus"]


async def test_list_sorts_by_utf8_bytes(kv: KVNamespace) -> None:
    for key in ["b", "é", "a", "Z", "\U0001f600", "\uff5e"]:
        await kv.put(key, "v")
    names = [key["name"] for key in (await kv.list())["keys"]]
    assert names == ["Z", "a", "b", "é", "\uff5e", "\U0001f600"]


async def test_list_by_prefix(kv: KVNamespace) -> None:
    for key in ["user:1", "user:2", "order:1", "users"]:
        await kv.put(key, "v")
    names = [key["name"] for key in (await kv.list(prefix="user:"))["keys"]]
    assert names == ["user:1", "user:2"]


async def test_list_options_dict(kv: KVNamespace) -> None:
    for key in ["a1", "a2", "b1"]:
        await kv.put(key, "v")
    result = await kv.list({"prefix": "a", "limit": 1})
    assert [key["name"] for key in result["keys"]] == ["a1"]
    assert result["list_complete"] is False


async def test_list_cursor_pagination(kv: KVNamespace) -> None:
    for index in range(5):
        await kv.put(f"k{index}", "v")
    pages = []
    cursor = None
    while True:
        result = await kv.list(limit=2, cursor=cursor)
        pages.append([key["name"] for key in result["keys"]])
        if result["list_complete"]:
            assert "cursor" not in result
            break
        cursor = result["cursor"]
        assert isinstance(cursor, str) and cursor
    assert pages == [["k0", "k1"], ["k2", "k3"], ["k4"]]


async def test_list_pagination_with_prefix(kv: KVNamespace) -> None:
    for key in ["p/a", "p/b", "p/c", "q/a"]:
        await kv.put(key, "v")
    first = await kv.list(prefix="p/", limit=2)
    second = await kv.list(prefix="p/", limit=2, cursor=first["cursor"])
    assert [key["name"] for key in second["keys"]] == ["p/c"]
    assert second["list_complete"] is True


async def test_list_exactly_full_page_is_complete(kv: KVNamespace) -> None:
    await kv.put("a", "v")
    await kv.put("b", "v")
    result = await kv.list(limit=2)
    assert result["list_complete"] is True and "cursor" not in result


async def test_list_default_limit_is_1000(kv: KVNamespace) -> None:
    for index in range(1001):
        await kv.put(f"k{index:04d}", "v")
    result = await kv.list()
    assert len(result["keys"]) == 1000 and result["list_complete"] is False


async def test_list_limit_over_1000_is_refused(kv: KVNamespace) -> None:
    with pytest.raises(KVError) as info:
        await kv.list(limit=1001)
    assert str(info.value) == (
        "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000."
    )


async def test_list_limit_of_zero_means_default(kv: KVNamespace) -> None:
    await kv.put("a", "v")
    assert len((await kv.list(limit=0))["keys"]) == 1


async def test_list_bad_cursor(kv: KVNamespace) -> None:
    with pytest.raises(KVError, match="Invalid cursor"):
        await kv.list(cursor="not-a-cursor")


async def test_list_unknown_option(kv: KVNamespace) -> None:
    with pytest.raises(TypeError, match="unknown option"):
        await kv.list(start="a")


# -- bulk get --------------------------------------------------------------------------------------


async def test_bulk_get_returns_a_dict(kv: KVNamespace) -> None:
    await kv.put("a", '{"n": 1}')
    assert await kv.get(["a", "missing"], "json") == {"a": {"n": 1}, "missing": None}


async def test_bulk_get_refuses_array_buffer(kv: KVNamespace) -> None:
    with pytest.raises(KVError) as info:
        await kv.get(["a"], "arrayBuffer")
    assert str(info.value) == 'KV GET_BULK failed: 400 "arrayBuffer" is not a valid type. Use "json" or "text"'


# -- persistence -----------------------------------------------------------------------------------


async def test_dump_load_round_trip(kv: KVNamespace, clock: FakeClock) -> None:
    await kv.put("text", "héllo", metadata={"a": [1, {"b": None}]})
    await kv.put("bin", b"\x00\x01\xff", expirationTtl=120)
    data = kv.dump()
    json.dumps(data)  # JSON-serialisable
    other = KVNamespace("KV", clock.now_ms)
    other.load(json.loads(json.dumps(data)))
    assert await other.getWithMetadata("text") == {
        "value": "héllo",
        "metadata": {"a": [1, {"b": None}]},
        "cacheStatus": None,
    }
    assert await other.get("bin", "arrayBuffer") == b"\x00\x01\xff"
    assert other.dump() == data
    clock.advance(120)
    assert await other.get("bin") is None


async def test_dump_leaves_out_expired_keys(kv: KVNamespace, clock: FakeClock) -> None:
    await kv.put("k", "v", expirationTtl=60)
    clock.advance(61)
    assert kv.dump()["entries"] == {}


def test_load_refuses_garbage(kv: KVNamespace) -> None:
    with pytest.raises(ValueError, match="dump"):
        kv.load({"nope": 1})


def test_repr(kv: KVNamespace) -> None:
    assert repr(kv) == "<KVNamespace 'KV'>"
