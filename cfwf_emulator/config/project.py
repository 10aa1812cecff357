"""The validated contents of a wrangler config, as the emulator uses them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "D1Config",
    "KVConfig",
    "ProjectConfig",
    "R2Config",
    "UnsupportedBindingConfig",
    "WorkflowConfig",
]


@dataclass(frozen=True)
class WorkflowConfig:
    """One ``workflows[]`` entry: the Workflow ``name``, its ``env`` binding and its class."""

    name: str
    """Workflow name (1-64 chars, ``^[a-zA-Z0-9_][a-zA-Z0-9-_]*$``)."""
    binding: str
    """Attribute on ``env`` (a Python identifier)."""
    class_name: str
    """Name of the ``WorkflowEntrypoint`` subclass in the ``main`` module."""
    step_limit: int | None
    """``limits.steps``, or None for the platform default."""
    schedules: tuple[str, ...] = ()
    """``schedules``: cron expressions that create instances (checked against Cloudflare's syntax)."""


@dataclass(frozen=True)
class KVConfig:
    """One ``kv_namespaces[]`` entry."""

    binding: str
    """Attribute on ``env``."""
    id: str | None
    """Namespace id, when given."""


@dataclass(frozen=True)
class D1Config:
    """One ``d1_databases[]`` entry."""

    binding: str
    """Attribute on ``env``."""
    database_name: str | None
    """Database name, when given."""
    database_id: str | None
    """Database id, when given."""


@dataclass(frozen=True)
class R2Config:
    """One ``r2_buckets[]`` entry."""

    binding: str
    """Attribute on ``env``."""
    bucket_name: str | None
    """Bucket name, when given."""


@dataclass(frozen=True)
class UnsupportedBindingConfig:
    """A binding the config declares but the emulator does not provide.

    ``kind`` is the config key it came from, such as ``"services"``, ``"queues.producers"``,
    ``"durable_objects"``, ``"ai"`` or ``"assets"``.
    """

    binding: str
    """The binding's name on ``env``."""
    kind: str
    """The config key that declared it."""


@dataclass(frozen=True)
class ProjectConfig:
    """A loaded and validated wrangler config (for one environment)."""

    path: Path
    """Absolute path of the config file."""
    root: Path
    """Directory holding the config file; relative paths in it resolve against this."""
    name: str | None
    """Worker name; for a named environment ``X`` without its own name, ``"<name>-X"``."""
    main: Path | None
    """Absolute path of the ``main`` Python module."""
    compatibility_date: str | None
    """``YYYY-MM-DD``."""
    compatibility_flags: tuple[str, ...]
    """Compatibility flags, in config order."""
    vars: dict[str, Any]
    """Plain ``vars`` (any JSON values)."""
    workflows: tuple[WorkflowConfig, ...]
    """Workflow bindings."""
    kv_namespaces: tuple[KVConfig, ...]
    """KV namespace bindings."""
    d1_databases: tuple[D1Config, ...]
    """D1 database bindings."""
    r2_buckets: tuple[R2Config, ...]
    """R2 bucket bindings."""
    unsupported: tuple[UnsupportedBindingConfig, ...]
    """Bindings of kinds the emulator does not provide."""
    warnings: tuple[str, ...]
    """Non-fatal findings (unknown keys, step limits above production's, ...)."""
    environment: str | None
    """The named environment selected with ``env=``, if any."""
    crons: tuple[str, ...] = ()
    """``triggers.crons``: when the Worker's ``scheduled()`` handler runs."""
