"""A parsed config file with the positions of its keys, and the error/warning collector.

Every message produced while validating a config starts with ``<file>:<line>:<col>:`` (or
``<file>:<line>:`` / ``<file>:`` when less is known) and the key path such as
``workflows[1].name``, so an editor or terminal can jump straight to the problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .jsonc import KeyPath

__all__ = ["Diagnostics", "Source", "describe_value", "format_key_path"]

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_$-]+")


def format_key_path(key: KeyPath) -> str:
    """``("env", "staging", "workflows", 1, "name")`` -> ``env.staging.workflows[1].name``."""
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{_quote(part)}]"
    return out


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def describe_value(value: Any) -> str:
    """A value as JSON would print it (wrangler quotes the value it got in its messages)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"a TOML {type(value).__name__} value ({value})"


@dataclass(frozen=True)
class Source:
    """A config file after parsing: where it is, what it holds, and where each key is."""

    path: Path
    """Absolute path of the file."""
    display: str
    """How messages name the file (relative to the working directory when inside it)."""
    data: Any
    """The parsed document."""
    positions: Mapping[KeyPath, tuple[int, int | None]] = field(default_factory=dict)
    """Key path -> 1-based (line, column or None) of the key, as far as it is known."""

    def locate(self, key: KeyPath) -> tuple[int, int | None] | None:
        """Position of ``key``, else of its nearest enclosing key that has one."""
        while True:
            found = self.positions.get(key)
            if found is not None or not key:
                return found
            key = key[:-1]

    def prefix(self, key: KeyPath) -> str:
        """``"<file>:<line>:<col>: <key path>: "`` for messages about ``key``."""
        where = self.display
        pos = self.locate(key)
        if pos is not None:
            line, col = pos
            where += f":{line}" if col is None else f":{line}:{col}"
        shown = format_key_path(key)
        return f"{where}: {shown}: " if shown else f"{where}: "


class Diagnostics:
    """Collects errors and warnings for one config file, then raises one ConfigError."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, key: KeyPath, problem: str, fix: str | None = None) -> None:
        """Record an error about ``key``: what is wrong and, when useful, how to fix it."""
        self.errors.append(self.source.prefix(key) + problem + (f"; {fix}" if fix else ""))

    def warn(self, key: KeyPath, problem: str) -> None:
        """Record a non-fatal finding about ``key``."""
        self.warnings.append(self.source.prefix(key) + problem)

    def check(self) -> None:
        """Raise a ConfigError holding every error recorded so far (if any)."""
        if not self.errors:
            return
        if len(self.errors) == 1:
            raise ConfigError(self.errors[0])
        body = "\n".join(f"  {message}" for message in self.errors)
        raise ConfigError(f"{self.source.display}: {len(self.errors)} configuration errors:\n{body}")
