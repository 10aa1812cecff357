"""R2Bucket never follows a link inside its directory: nothing outside is read, written or deleted.

A bucket keeps each object as two files under ``<directory>/objects/`` named by the SHA-256 of
the key. Here a symbolic link is planted in place of a body file, a metadata file, the
``objects`` directory and the bucket directory, pointing outside the bucket at a file or a
directory that would pass for the real thing, and every operation is run against it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cfwf_emulator.errors import ConfigError
from cfwf_emulator.resources import R2Bucket, R2StorageError
from cfwf_emulator.resources import r2 as r2_module

START_MS = 1_767_225_600_000.0
SECRET = b"outside the bucket"

@pytest.fixture(params=["dir_fd", "paths"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both ways the bucket reaches its files: relative to directory descriptors (POSIX), and by
    checked paths (platforms without ``dir_fd``)."""
    if request.param == "paths":
        monkeypatch.setattr(r2_module, "_DIR_FD", False)
    else:  # the emulator runs on POSIX systems (the state lock is flock): dir_fd is there
        assert r2_module._DIR_FD, "this platform has no dir_fd support for os.open"
    yield request.param


def name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file and link under ``root`` with its content (or target)."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            found[relative] = "-> " + os.readlink(path)
        elif path.is_file():
            found[relative] = path.read_bytes()
    return found


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the bucket holding what a followed link would reach: a secret file, and
    a copy of a genuine objects directory (so following it would look like success)."""
    root = tmp_path / "outside"
    root.mkdir()
    (root / "secret.txt").write_bytes(SECRET)
    return root


async def make_bucket(tmp_path: Path, *keys: str) -> R2Bucket:
    bucket = R2Bucket("BLOBS", tmp_path / "bucket", now_ms=lambda: START_MS)
    for key in keys:
        await bucket.put(key, "inside: " + key)
    return bucket


async def run_all(bucket: R2Bucket, key: str) -> dict[str, Any]:
    """Every operation on ``key``; what each returned, or the exception it raised."""
    outcomes: dict[str, Any] = {}
    calls = {
        "head": lambda: bucket.head(key),
        "get": lambda: bucket.get(key),
        "list": lambda: bucket.list(),
        "put": lambda: bucket.put(key, "new"),
        "delete": lambda: bucket.delete(key),
    }
    for label, call in calls.items():
        try:
            outcomes[label] = await call()
        except Exception as exc:  # noqa: BLE001 - recorded for the assertions
            outcomes[label] = exc
    return outcomes


# -- a linked body or metadata file ----------------------------------------------------------------


async def linked_body(tmp_path: Path, outside: Path) -> tuple[R2Bucket, Path]:
    """A bucket holding ``k`` whose body file was swapped for a link to a file outside."""
    bucket = await make_bucket(tmp_path, "k")
    body = tmp_path / "bucket" / "objects" / f"{name('k')}.bin"
    body.unlink()
    body.symlink_to(outside / "secret.txt")
    return bucket, body


async def test_get_of_a_linked_body_file_is_refused(tmp_path: Path, outside: Path, mode: str) -> None:
    bucket, body = await linked_body(tmp_path, outside)
    with pytest.raises(R2StorageError) as info:
        await bucket.get("k")
    message = str(info.value)
    assert "BLOBS" in message and str(body) in message and "symbolic link" in message
    assert isinstance(info.value, ConfigError)
    assert (outside / "secret.txt").read_bytes() == SECRET


async def test_every_operation_on_a_linked_body_file_leaves_the_outside_alone(
    tmp_path: Path, outside: Path, mode: str
) -> None:
    bucket, body = await linked_body(tmp_path, outside)
    before = snapshot(outside)
    outcomes = await run_all(bucket, "k")
    assert isinstance(outcomes["get"], R2StorageError)
    assert outcomes["head"].key == "k"  # metadata only: nothing read through the link
    assert [obj.key for obj in outcomes["list"]["objects"]] == ["k"]
    assert outcomes["put"].key == "k" and outcomes["delete"] is None
    assert snapshot(outside) == before  # not read into the bucket, not written, not deleted
    assert not body.exists() and not body.is_symlink()  # put replaced the link, delete removed the file


async def test_put_replaces_a_linked_body_file_instead_of_writing_through_it(
    tmp_path: Path, outside: Path, mode: str
) -> None:
    bucket, body = await linked_body(tmp_path, outside)
    await bucket.put("k", "replaced")
    assert (outside / "secret.txt").read_bytes() == SECRET
    assert not body.is_symlink()
    assert await (await bucket.get("k")).text() == "replaced"


async def test_delete_removes_a_linked_file_not_its_target(tmp_path: Path, outside: Path, mode: str) -> None:
    bucket = await make_bucket(tmp_path, "k")
    objects = tmp_path / "bucket" / "objects"
    for suffix in (".bin", ".json"):
        path = objects / f"{name('k')}{suffix}"
        path.unlink()
        path.symlink_to(outside / "secret.txt")
    await bucket.delete("k")
    assert list(objects.iterdir()) == []
    assert (outside / "secret.txt").read_bytes() == SECRET


async def test_a_linked_metadata_file_is_not_read(tmp_path: Path, outside: Path, mode: str) -> None:
    await make_bucket(tmp_path, "real")
    objects = tmp_path / "bucket" / "objects"
    record = json.loads((objects / f"{name('real')}.json").read_text())
    record["key"] = "planted"
    (outside / "record.json").write_text(json.dumps(record))
    (outside / "body.bin").write_bytes(SECRET)
    (objects / f"{name('planted')}.json").symlink_to(outside / "record.json")
    (objects / f"{name('planted')}.bin").symlink_to(outside / "body.bin")
    reopened = R2Bucket("BLOBS", tmp_path / "bucket", now_ms=lambda: START_MS)
    assert await reopened.head("planted") is None and await reopened.get("planted") is None
    assert [obj.key for obj in (await reopened.list())["objects"]] == ["real"]


async def test_a_fifo_in_place_of_a_body_is_refused_without_blocking(tmp_path: Path, mode: str) -> None:
    bucket = await make_bucket(tmp_path, "k")
    body = tmp_path / "bucket" / "objects" / f"{name('k')}.bin"
    body.unlink()
    os.mkfifo(body)
    with pytest.raises(R2StorageError, match="not a regular file"):
        await bucket.get("k")


# -- a linked directory ------------------------------------------------------------------------


async def linked_objects_directory(tmp_path: Path, outside: Path) -> tuple[R2Bucket, Path]:
    """A bucket whose ``objects`` directory was swapped for a link to a copy of itself outside."""
    bucket = await make_bucket(tmp_path, "k", "other")
    objects = tmp_path / "bucket" / "objects"
    copy = outside / "objects"
    objects.rename(copy)
    objects.symlink_to(copy, target_is_directory=True)
    return bucket, copy


async def test_every_operation_through_a_linked_objects_directory_is_refused(
    tmp_path: Path, outside: Path, mode: str
) -> None:
    bucket, copy = await linked_objects_directory(tmp_path, outside)
    before = snapshot(outside)
    outcomes = await run_all(bucket, "k")
    for label, outcome in outcomes.items():
        assert isinstance(outcome, R2StorageError), (label, outcome)
        assert "objects" in str(outcome) and "symbolic link" in str(outcome)
    assert snapshot(outside) == before


async def test_a_bucket_on_a_linked_objects_directory_is_refused(tmp_path: Path, outside: Path, mode: str) -> None:
    await linked_objects_directory(tmp_path, outside)
    before = snapshot(outside)
    with pytest.raises(R2StorageError, match="symbolic link"):
        R2Bucket("BLOBS", tmp_path / "bucket")
    assert snapshot(outside) == before


async def test_a_linked_bucket_directory_is_refused(tmp_path: Path, outside: Path, mode: str) -> None:
    bucket = await make_bucket(tmp_path, "k")
    real = tmp_path / "bucket"
    moved = outside / "bucket"
    real.rename(moved)
    real.symlink_to(moved, target_is_directory=True)
    before = snapshot(outside)
    outcomes = await run_all(bucket, "k")
    assert all(isinstance(outcome, R2StorageError) for outcome in outcomes.values()), outcomes
    with pytest.raises(R2StorageError, match="symbolic link"):
        R2Bucket("BLOBS", real)
    empty = tmp_path / "empty-link"
    empty.symlink_to(outside / "new-bucket", target_is_directory=True)
    with pytest.raises(R2StorageError, match="symbolic link"):
        R2Bucket("BLOBS", empty)
    assert not (outside / "new-bucket").exists()
    assert snapshot(outside) == before
