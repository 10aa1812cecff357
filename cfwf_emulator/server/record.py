"""The dev server's address record, ``<state dir>/dev-server.json``: how ``cfwf`` commands find it."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["RECORD_NAME", "ServerRunningError", "read_record", "remove_record", "write_record"]

RECORD_NAME = "dev-server.json"


class ServerRunningError(RuntimeError):
    """Another live dev server already serves this state directory."""


def _alive(pid: Any) -> bool:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_record(state_dir: Path) -> dict[str, Any] | None:
    """The record of a live dev server on ``state_dir``; None when there is none or its process is gone."""
    try:
        record = json.loads((state_dir / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not _alive(record.get("pid")):
        return None
    return record


def write_record(state_dir: Path, url: str) -> Path:
    """Record this process as the dev server at ``url`` (replacing a stale record of a dead process)."""
    live = read_record(state_dir)
    if live is not None and live.get("pid") != os.getpid():
        raise ServerRunningError(
            f"a dev server (pid {live['pid']}) already serves {state_dir} at {live.get('url')}: "
            "stop it first, or pass another --persist-to directory"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / RECORD_NAME
    started = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"pid": os.getpid(), "url": url, "started": started}) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def remove_record(state_dir: Path) -> None:
    """Remove this process's record (a record of another process is left alone)."""
    path = state_dir / RECORD_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(record, dict) and record.get("pid") == os.getpid():
        path.unlink(missing_ok=True)
