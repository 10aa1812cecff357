"""Reading ``wrangler.toml``: tomllib for the data, plus a best-effort map of key lines.

tomllib gives no positions, so :func:`toml_positions` scans the text line by line for table
headers (``[vars]``, ``[[workflows]]``, ``[env.staging]``, ``[[env.staging.workflows]]``) and
``key = value`` lines. It understands the layouts wrangler configs use; for anything it cannot
place (items of an inline array, say) messages fall back to the enclosing key's line.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from ..errors import ConfigError
from .jsonc import KeyPath

__all__ = ["parse_toml", "toml_positions"]

_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)\s*$")
_KEY_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = re.compile(rf"\s*{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*\s*")
_ASSIGN = re.compile(rf"(\s*)({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=(.*)$")
_PART = re.compile(_KEY_PART)


def parse_toml(text: str, display: str) -> tuple[dict[str, Any], dict[KeyPath, tuple[int, int | None]]]:
    """Parse TOML ``text``; a syntax error becomes a ConfigError naming ``display`` and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = display
        found = _TOML_WHERE.search(message)
        if found is not None:
            where += f":{found.group(1)}:{found.group(2)}"
            message = message[: found.start()]
        else:
            at_end = _TOML_AT_END.search(message)
            if at_end is not None:
                where += f":{text.count(chr(10)) + 1}"
                message = message[: at_end.start()] + " at the end of the file"
        raise ConfigError(
            f"{where}: TOML syntax error: {message}; fix the TOML syntax (wrangler.toml must be valid TOML 1.0)"
        ) from None
    return data, toml_positions(text)


def _split_dotted(text: str) -> list[str]:
    parts: list[str] = []
    for match in _PART.finditer(text):
        part = match.group()
        if part.startswith('"'):
            part = part[1:-1]
        elif part.startswith("'"):
            part = part[1:-1]
        parts.append(part)
    return parts


def toml_positions(text: str) -> dict[KeyPath, tuple[int, int | None]]:
    """Best-effort ``key path -> (line, column)`` for the tables and keys in a TOML document."""
    positions: dict[KeyPath, tuple[int, int | None]] = {(): (1, 1)}
    table: KeyPath = ()
    array_index: dict[tuple[str, ...], int] = {}
    closing: str | None = None

    def resolve(names: list[str]) -> KeyPath:
        out: list[str | int] = []
        for i in range(len(names)):
            out.append(names[i])
            index = array_index.get(tuple(names[: i + 1]))
            if index is not None:
                out.append(index)
        return tuple(out)

    for lineno, line in enumerate(text.splitlines(), 1):
        if closing is not None:
            if closing in line:
                closing = None
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        col = len(line) - len(line.lstrip()) + 1
        if stripped.startswith("[["):
            end = stripped.find("]]")
            if end < 0 or not _DOTTED.fullmatch(stripped[2:end]):
                continue
            names = _split_dotted(stripped[2:end])
            header = tuple(names)
            for other in [k for k in array_index if len(k) > len(header) and k[: len(header)] == header]:
                del array_index[other]
            parent = resolve(names[:-1])
            array_index[header] = array_index.get(header, -1) + 1
            table = parent + (names[-1], array_index[header])
            for depth in range(1, len(table)):
                positions.setdefault(table[:depth], (lineno, col))
            positions[table] = (lineno, col)
            continue
        if stripped.startswith("["):
            end = stripped.find("]")
            if end < 0 or not _DOTTED.fullmatch(stripped[1:end]):
                continue
            table = resolve(_split_dotted(stripped[1:end]))
            for depth in range(1, len(table) + 1):
                positions.setdefault(table[:depth], (lineno, col))
            continue
        assign = _ASSIGN.match(line)
        if assign is None:
            continue
        key = table + tuple(_split_dotted(assign.group(2)))
        for depth in range(len(table) + 1, len(key) + 1):
            positions.setdefault(key[:depth], (lineno, col))
        rest = assign.group(3).strip()
        for quotes in ('"""', "'''"):
            if rest.startswith(quotes) and rest.count(quotes) == 1:
                closing = quotes
    return positions
