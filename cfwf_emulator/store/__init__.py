"""Stores for instance state: :class:`MemoryStore` (default); SQLite arrives with durability."""

from __future__ import annotations

from ..errors import ConfigError
from .base import Store
from .memory import MemoryStore

__all__ = ["MemoryStore", "Store", "open_store"]


def open_store(spec: "str | Store | None") -> Store:
    """``"memory"`` (default) or a :class:`Store` instance."""
    if spec is None or spec == "memory":
        return MemoryStore()
    if isinstance(spec, str):
        if spec.startswith("sqlite:"):
            raise ConfigError(
                f"storage {spec!r}: the SQLite store is not available in this version yet; "
                'use storage="memory"'
            )
        raise ConfigError(f'storage must be "memory" or "sqlite:///PATH", got {spec!r}')
    return spec
