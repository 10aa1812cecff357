"""R2Bucket: R2's object API on the filesystem, listing, conditionals, limits and key safety."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest

from cfwf_emulator.resources import (
    R2Bucket,
    R2Error,
    R2Object,
    R2ObjectBody,
    UnsupportedBinding,
    UnsupportedBindingError,
)
from cfwf_emulator.errors import ConfigError

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def bucket(tmp_path: Path) -> R2Bucket:
    return R2Bucket("BUCKET", tmp_path / "bucket", now_ms=lambda: START_MS)


async def fill(bucket: R2Bucket, *keys: str) -> None:
    for key in keys:
        await bucket.put(key, key)


def names(result: dict) -> list[str]:
    return [obj.key for obj in result["objects"]]


# -- put / get / head ------------------------------------------------------------------------------


async def test_put_returns_the_object(bucket: R2Bucket) -> None:
    obj = await bucket.put("a.txt", "hello")
    md5 = hashlib.md5(b"hello").hexdigest()
    assert type(obj) is R2Object
    assert obj.key == "a.txt" and obj.size == 5
    assert obj.etag == md5 and obj.httpEtag == f'"{md5}"'
    assert obj.uploaded == datetime(2026, 1, 1) and obj.uploaded.tzinfo is None
    assert isinstance(obj.version, str) and len(obj.version) == 32
    assert obj.httpMetadata == {} and obj.customMetadata == {}
    assert obj.checksums.md5 == hashlib.md5(b"hello").digest()
    assert obj.checksums.toJSON() == {"md5": md5}
    assert obj.storageClass == "Standard" and obj.range is None


async def test_get_reads_text(bucket: R2Bucket) -> None:
    await bucket.put("a.txt", "héllo")
    obj = await bucket.get("a.txt")
    assert type(obj) is R2ObjectBody
    assert await obj.text() == "héllo"


async def test_get_reads_json(bucket: R2Bucket) -> None:
    await bucket.put("a.json", json.dumps({"n": 1, "l": [1]}))
    value = await (await bucket.get("a.json")).json()
    assert value == {"n": 1, "l": [1]} and value.n == 1


async def test_get_reads_array_buffer_and_bytes(bucket: R2Bucket) -> None:
    await bucket.put("bin", b"\x00\xff")
    assert await (await bucket.get("bin")).arrayBuffer() == b"\x00\xff"
    assert await (await bucket.get("bin")).bytes() == b"\x00\xff"


async def test_body_attribute(bucket: R2Bucket) -> None:
    await bucket.put("a", bytearray(b"abc"))
    obj = await bucket.get("a")
    assert obj.body == b"abc" and obj.bodyUsed is False


async def test_body_can_be_read_once(bucket: R2Bucket) -> None:
    await bucket.put("a", "x")
    obj = await bucket.get("a")
    await obj.text()
    assert obj.bodyUsed is True
    with pytest.raises(TypeError, match="^Body has already been used"):
        await obj.arrayBuffer()


async def test_get_missing_is_none(bucket: R2Bucket) -> None:
    assert await bucket.get("nope") is None
    assert await bucket.head("nope") is None


async def test_head_has_metadata_without_body(bucket: R2Bucket) -> None:
    await bucket.put("a", "hello", customMetadata={"owner": "ada"})
    obj = await bucket.head("a")
    assert type(obj) is R2Object and not hasattr(obj, "text")
    assert obj.size == 5 and obj.customMetadata == {"owner": "ada"}


async def test_put_none_is_an_empty_object(bucket: R2Bucket) -> None:
    obj = await bucket.put("empty", None)
    assert obj.size == 0
    assert await (await bucket.get("empty")).text() == ""


async def test_put_overwrites_with_a_new_version(bucket: R2Bucket) -> None:
    first = await bucket.put("a", "one")
    second = await bucket.put("a", "two")
    assert first.version != second.version
    assert await (await bucket.get("a")).text() == "two"


async def test_put_refuses_other_value_types(bucket: R2Bucket) -> None:
    with pytest.raises(TypeError, match="json.dumps"):
        await bucket.put("a", {"n": 1})


async def test_http_and_custom_metadata(bucket: R2Bucket) -> None:
    expiry = datetime(2026, 2, 1)
    await bucket.put(
        "a.txt",
        "x",
        httpMetadata={"contentType": "text/plain", "cacheControl": "max-age=60", "cacheExpiry": expiry},
        customMetadata={"owner": "ada"},
    )
    obj = await bucket.get("a.txt")
    assert obj.httpMetadata == {"contentType": "text/plain", "cacheControl": "max-age=60", "cacheExpiry": expiry}
    assert obj.httpMetadata.contentType == "text/plain"
    assert obj.customMetadata.owner == "ada"
    headers: dict[str, str] = {}
    obj.writeHttpMetadata(headers)
    assert headers == {
        "content-type": "text/plain",
        "cache-control": "max-age=60",
        "expires": "Sun, 01 Feb 2026 00:00:00 GMT",
    }


async def test_options_dict_for_put(bucket: R2Bucket) -> None:
    obj = await bucket.put("a", "x", {"customMetadata": {"k": "v"}})
    assert obj.customMetadata == {"k": "v"}


async def test_snake_case_option_is_refused(bucket: R2Bucket) -> None:
    with pytest.raises(TypeError, match="'custom_metadata' \\(Cloudflare spells it 'customMetadata'\\)"):
        await bucket.put("a", "x", custom_metadata={"k": "v"})


async def test_custom_metadata_values_must_be_strings(bucket: R2Bucket) -> None:
    with pytest.raises(TypeError, match="customMetadata must map str to str"):
        await bucket.put("a", "x", customMetadata={"n": 1})


async def test_metadata_too_large(bucket: R2Bucket) -> None:
    with pytest.raises(R2Error) as info:
        await bucket.put("a", "x", customMetadata={"k": "v" * 8192})
    assert str(info.value) == "put: Your metadata headers exceed the maximum allowed metadata size. (10012)"
    assert info.value.code == 10012
    assert await bucket.head("a") is None


async def test_md5_is_verified(bucket: R2Bucket) -> None:
    good = hashlib.md5(b"x").hexdigest()
    assert (await bucket.put("a", "x", md5=good)).etag == good
    with pytest.raises(R2Error) as info:
        await bucket.put("a", "x", md5="00" * 16)
    assert str(info.value) == (
        "put: The MD5 checksum you specified did not match what we received.\n"
        f"You provided a MD5 checksum with value: {'00' * 16}\n"
        f"Actual MD5 was: {good} (10037)"
    )


async def test_sha256_is_kept_in_checksums(bucket: R2Bucket) -> None:
    digest = hashlib.sha256(b"x").digest()
    obj = await bucket.put("a", "x", sha256=digest)
    assert obj.checksums.sha256 == digest
    assert obj.checksums.toJSON()["sha256"] == digest.hex()


async def test_only_one_hash_algorithm(bucket: R2Bucket) -> None:
    with pytest.raises(TypeError, match="^You cannot specify multiple hashing algorithms.$"):
        await bucket.put("a", "x", md5=hashlib.md5(b"x").hexdigest(), sha1=hashlib.sha1(b"x").hexdigest())


# -- conditionals and ranges ---------------------------------------------------------------------


async def test_get_only_if_failing_returns_object_without_body(bucket: R2Bucket) -> None:
    await bucket.put("a", "x")
    obj = await bucket.get("a", onlyIf={"etagMatches": "nope"})
    assert type(obj) is R2Object and obj.key == "a"


async def test_get_only_if_passing_returns_body(bucket: R2Bucket) -> None:
    stored = await bucket.put("a", "x")
    obj = await bucket.get("a", onlyIf={"etagMatches": stored.etag})
    assert type(obj) is R2ObjectBody


async def test_put_only_if_failing_stores_nothing(bucket: R2Bucket) -> None:
    await bucket.put("a", "one")
    assert await bucket.put("a", "two", onlyIf={"etagDoesNotMatch": hashlib.md5(b"one").hexdigest()}) is None
    assert await (await bucket.get("a")).text() == "one"


async def test_get_range_offset_and_length(bucket: R2Bucket) -> None:
    await bucket.put("a", "0123456789")
    obj = await bucket.get("a", range={"offset": 2, "length": 3})
    assert await obj.text() == "234"
    assert obj.range == {"offset": 2, "length": 3} and obj.size == 10


async def test_get_range_suffix(bucket: R2Bucket) -> None:
    await bucket.put("a", "0123456789")
    obj = await bucket.get("a", {"range": {"suffix": 4}})
    assert await obj.text() == "6789"


async def test_get_range_not_satisfiable(bucket: R2Bucket) -> None:
    await bucket.put("a", "012")
    with pytest.raises(R2Error) as info:
        await bucket.get("a", range={"offset": 5})
    assert str(info.value) == "get: The requested range is not satisfiable (10039)"


# -- delete ----------------------------------------------------------------------------------------


async def test_delete_one(bucket: R2Bucket) -> None:
    await bucket.put("a", "x")
    assert await bucket.delete("a") is None
    assert await bucket.get("a") is None


async def test_delete_many_and_missing(bucket: R2Bucket) -> None:
    await fill(bucket, "a", "b", "c")
    await bucket.delete(["a", "c", "missing"])
    assert names(await bucket.list()) == ["b"]


async def test_delete_removes_files(bucket: R2Bucket) -> None:
    await bucket.put("a", "x")
    await bucket.delete("a")
    assert list((bucket.directory / "objects").iterdir()) == []


# -- list ------------------------------------------------------------------------------------------


async def test_list_shape(bucket: R2Bucket) -> None:
    await fill(bucket, "b", "a")
    result = await bucket.list()
    assert list(result) == ["objects", "truncated", "delimitedPrefixes"]
    assert names(result) == ["a", "b"]
    assert result["truncated"] is False and result["delimitedPrefixes"] == []
    assert all(isinstance(obj, R2Object) for obj in result.objects)


async def test_list_sorts_by_utf8_bytes(bucket: R2Bucket) -> None:
    await fill(bucket, "b", "é", "Z", "\U0001f600", "\uff5e")
    assert names(await bucket.list()) == ["Z", "b", "é", "\uff5e", "\U0001f600"]


async def test_list_prefix(bucket: R2Bucket) -> None:
    await fill(bucket, "img/a.png", "img/b.png", "doc/a.txt", "imgs")
    assert names(await bucket.list(prefix="img/")) == ["img/a.png", "img/b.png"]


async def test_list_delimiter(bucket: R2Bucket) -> None:
    await fill(bucket, "a/1", "a/2", "a/b/1", "b", "c/d/e")
    result = await bucket.list(delimiter="/")
    assert names(result) == ["b"]
    assert result["delimitedPrefixes"] == ["a/", "c/"]


async def test_list_prefix_and_delimiter(bucket: R2Bucket) -> None:
    await fill(bucket, "a/1", "a/2", "a/b/1", "a/b/2", "a/c/1")
    result = await bucket.list(prefix="a/", delimiter="/")
    assert names(result) == ["a/1", "a/2"]
    assert result["delimitedPrefixes"] == ["a/b/", "a/c/"]


async def test_list_pagination(bucket: R2Bucket) -> None:
    await fill(bucket, *(f"k{index}" for index in range(5)))
    pages = []
    cursor = None
    while True:
        result = await bucket.list(limit=2, cursor=cursor)
        pages.append(names(result))
        if not result["truncated"]:
            assert "cursor" not in result
            break
        cursor = result["cursor"]
    assert pages == [["k0", "k1"], ["k2", "k3"], ["k4"]]


async def test_list_pagination_with_delimiter_counts_prefixes(bucket: R2Bucket) -> None:
    await fill(bucket, "a/1", "a/2", "b", "c/1", "d")
    first = await bucket.list(delimiter="/", limit=2)
    assert names(first) == ["b"] and first["delimitedPrefixes"] == ["a/"] and first["truncated"] is True
    second = await bucket.list(delimiter="/", limit=2, cursor=first["cursor"])
    assert names(second) == ["d"] and second["delimitedPrefixes"] == ["c/"]
    assert second["truncated"] is False


async def test_list_start_after(bucket: R2Bucket) -> None:
    await fill(bucket, "a", "b", "c")
    assert names(await bucket.list(startAfter="a")) == ["b", "c"]


async def test_list_include(bucket: R2Bucket) -> None:
    await bucket.put("a", "x", httpMetadata={"contentType": "text/plain"}, customMetadata={"k": "v"})
    plain = (await bucket.list())["objects"][0]
    assert plain.httpMetadata is None and plain.customMetadata is None
    full = (await bucket.list(include=["httpMetadata", "customMetadata"]))["objects"][0]
    assert full.httpMetadata == {"contentType": "text/plain"} and full.customMetadata == {"k": "v"}


async def test_list_options_dict(bucket: R2Bucket) -> None:
    await fill(bucket, "a/1", "b")
    assert names(await bucket.list({"prefix": "a/"})) == ["a/1"]


@pytest.mark.parametrize("limit", [0, 1001])
async def test_list_limit_out_of_range(bucket: R2Bucket, limit: int) -> None:
    with pytest.raises(R2Error) as info:
        await bucket.list(limit=limit)
    assert str(info.value) == "list: MaxKeys params must be positive integer <= 1000. (10022)"


async def test_list_bad_cursor(bucket: R2Bucket) -> None:
    with pytest.raises(R2Error, match="cursor"):
        await bucket.list(cursor="garbage")


# -- keys and files ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["../escape", "../../etc/passwd", "/abs/path", "a/../../b", "..", "a\\..\\b"])
async def test_keys_cannot_escape_the_directory(tmp_path: Path, key: str) -> None:
    root = tmp_path / "bucket"
    bucket = R2Bucket("BUCKET", root)
    await bucket.put(key, "secret")
    assert await (await bucket.get(key)).text() == "secret"
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert written and all(root / "objects" in path.parents for path in written)


async def test_key_over_1024_bytes_is_invalid(bucket: R2Bucket) -> None:
    with pytest.raises(R2Error) as info:
        await bucket.put("k" * 1025, "x")
    assert str(info.value) == "put: The specified object name is not valid. (10020)"


async def test_key_of_1024_bytes_is_valid(bucket: R2Bucket) -> None:
    await bucket.put("k" * 1024, "x")
    assert (await bucket.head("k" * 1024)).size == 1


async def test_key_with_lone_surrogate_is_invalid(bucket: R2Bucket) -> None:
    with pytest.raises(R2Error, match=r"^head: The specified object name is not valid\. \(10020\)$"):
        await bucket.head("a\ud800")


async def test_objects_survive_a_new_bucket_on_the_same_directory(tmp_path: Path) -> None:
    first = R2Bucket("BUCKET", tmp_path)
    await first.put("a/b", "x", customMetadata={"k": "v"})
    second = R2Bucket("BUCKET", tmp_path)
    obj = await second.get("a/b")
    assert await obj.text() == "x" and obj.customMetadata == {"k": "v"}
    assert names(await second.list()) == ["a/b"]


async def test_multipart_is_not_emulated(bucket: R2Bucket) -> None:
    with pytest.raises(NotImplementedError, match="multipart"):
        await bucket.createMultipartUpload("a")


# -- unsupported bindings ------------------------------------------------------------------------


def test_unsupported_binding_attribute_raises() -> None:
    queue = UnsupportedBinding("JOBS", "Queue")
    with pytest.raises(UnsupportedBindingError) as info:
        queue.send
    message = str(info.value)
    assert "env.JOBS is a Queue binding" in message
    assert "emulates only workflows, vars, KV, D1 and R2" in message
    assert "mock" in message
    assert isinstance(info.value, ConfigError)


def test_unsupported_binding_call_raises() -> None:
    with pytest.raises(UnsupportedBindingError, match="AI binding"):
        UnsupportedBinding("AI", "AI")("run")


def test_unsupported_binding_repr_does_not_raise() -> None:
    assert repr(UnsupportedBinding("JOBS", "Queue")) == "<UnsupportedBinding 'JOBS' (Queue)>"


def test_unsupported_binding_python_probes_are_attribute_errors() -> None:
    assert not hasattr(UnsupportedBinding("JOBS", "Queue"), "__wrapped__")
