"""Stores for instance state: :class:`MemoryStore` (default) and :class:`SQLiteStore` (durable)."""

from __future__ import annotations

from ..errors import ConfigError
from .base import InstanceSummary, Store, StoreError
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = [
    "InstanceSummary", "MemoryStore", "SQLiteStore", "Store", "StoreError", "open_store", "sqlite_path",
]


def sqlite_path(spec: str) -> tuple[str, dict[str, str]]:
    """``sqlite:///relative.db`` or ``sqlite:////absolute.db``, with ``?synchronous=NORMAL`` allowed."""
    rest = spec[len("sqlite:///"):] if spec.startswith("sqlite:///") else None
    if not rest:
        raise ConfigError(
            f'storage {spec!r}: write "sqlite:///state.db" (relative path) or '
            '"sqlite:////abs/path/state.db" (absolute)'
        )
    path, _, query = rest.partition("?")
    options: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        if key != "synchronous":
            raise ConfigError(f"storage {spec!r}: unknown option {key!r} (only synchronous=FULL|NORMAL)")
        options[key] = value.upper()
    return path, options


def open_store(spec: "str | Store | None", *, readonly: bool = False) -> Store:
    """``"memory"`` (default), ``"sqlite:///PATH"`` or a :class:`Store` instance.

    ``readonly`` opens a ``"sqlite:///PATH"`` for inspection (``SQLiteStore(readonly=True)``).
    """
    if spec is None or spec == "memory":
        return MemoryStore()
    if isinstance(spec, str):
        if spec.startswith("sqlite:"):
            path, options = sqlite_path(spec)
            return SQLiteStore(path, synchronous=options.get("synchronous", "FULL"), readonly=readonly)
        raise ConfigError(f'storage must be "memory" or "sqlite:///PATH", got {spec!r}')
    missing = [name for name in _STORE_METHODS if not callable(getattr(spec, name, None))]
    if not isinstance(getattr(spec, "capabilities", None), frozenset):
        missing.append("capabilities (a frozenset naming the optional abilities it offers)")
    if missing:
        raise ConfigError(
            f'storage must be "memory", "sqlite:///PATH" or a Store; {spec!r} lacks {", ".join(missing)}'
        )
    return spec


_STORE_METHODS = (
    "insert_instance", "insert_instances", "load_instance", "load_instances", "has_instance", "instance_ids",
    "list_instances", "count_instances", "save_header", "save_step", "delete_steps",
    "delete_instance", "read_log", "pending_commit", "close",
)
