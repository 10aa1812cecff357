"""Finding and loading ``wrangler.json`` / ``wrangler.jsonc`` / ``wrangler.toml``."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from .jsonc import parse_jsonc_located
from .project import ProjectConfig
from .source import Source
from .tomlfile import parse_toml
from .validate import build_project

__all__ = ["CONFIG_NAMES", "find_config", "load_config", "read_source"]

CONFIG_NAMES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")
"""Config file names, in wrangler's order of preference."""

_OTHER_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32 BE"),
    (b"\xff\xfe\x00\x00", "UTF-32 LE"),
    (b"\xfe\xff", "UTF-16 BE"),
    (b"\xff\xfe", "UTF-16 LE"),
)


def _in_directory(directory: Path) -> Path | None:
    for name in CONFIG_NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def find_config(start: str | os.PathLike[str] | None = None) -> Path:
    """The config file for ``start`` (a directory, or a file whose directory is used; default cwd).

    Looks in ``start`` and then in each parent directory in turn; the nearest directory holding
    any config wins, and within one directory ``wrangler.json`` beats ``wrangler.jsonc``, which
    beats ``wrangler.toml``. Returns an absolute path; raises ConfigError when there is none.
    """
    origin = Path.cwd() if start is None else Path(start)
    origin = origin.resolve()
    directory = origin if origin.is_dir() or not origin.exists() else origin.parent
    for candidate_dir in (directory, *directory.parents):
        found = _in_directory(candidate_dir)
        if found is not None:
            return found
    raise ConfigError(
        f"no wrangler config found in {directory} or any directory above it (looked for "
        f"{', '.join(CONFIG_NAMES)}); create one there or pass its path"
    )


def _display(path: Path) -> str:
    try:
        relative = path.relative_to(Path.cwd())
    except ValueError:
        return str(path)
    return str(relative) if relative.parts else str(path)


def read_source(path: Path) -> Source:
    """Read and parse the config file at ``path`` (JSONC unless it ends in ``.toml``)."""
    path = path.resolve()
    display = _display(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read the config file: {exc.strerror or exc}") from None
    for bom, encoding in _OTHER_BOMS:
        if raw.startswith(bom):
            raise ConfigError(
                f"{display}:1:1: the file is encoded as {encoding} (it starts with a {encoding} byte order "
                "mark); save it as UTF-8"
            )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{display}:{line}: the file is not valid UTF-8 ({exc.reason}); save it as UTF-8"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if path.suffix == ".toml":
        data, toml_positions = parse_toml(text, display)
        return Source(path=path, display=display, data=data, positions=toml_positions)
    value, positions = parse_jsonc_located(text, display)
    return Source(path=path, display=display, data=value, positions=positions)


def load_config(path: str | os.PathLike[str] | None = None, *, env: str | None = None) -> ProjectConfig:
    """Load, validate and return the wrangler config at ``path`` for environment ``env``.

    ``path`` may be a config file, or a directory (then only that directory is searched, in the
    order wrangler.json, wrangler.jsonc, wrangler.toml; parents are not); ``None`` searches the
    working directory and its parents (:func:`find_config`). ``env`` selects ``env.<name>``.
    Raises ConfigError naming the file, the line and what is wrong.
    """
    if path is None:
        config_path = find_config()
    else:
        config_path = Path(path)
        if config_path.is_dir():
            found = _in_directory(config_path)
            if found is None:
                raise ConfigError(
                    f"no wrangler config in {config_path.resolve()} (looked for {', '.join(CONFIG_NAMES)}); "
                    "create one there or pass the file's path"
                )
            config_path = found
        elif not config_path.exists():
            raise ConfigError(f"{os.fspath(path)}: config file not found; check the path")
    return build_project(read_source(config_path), env)
