"""Command-line and ini options, the ``cfwf`` marker, and how they combine into emulator options.

Precedence, highest first: keyword arguments given to ``cfwf_factory(...)``, the ``cfwf``
marker (a marker closer to the test wins over a module or class one, key by key), the command
line (``--cfwf-config``, ``--cfwf-clock``), the ini file (``cfwf_config``, ``cfwf_clock``), and
the defaults: a virtual clock, in-memory storage, and the nearest wrangler config in the rootdir
or a directory above it, if there is one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import pytest

__all__ = [
    "CONFIG_NAMES",
    "MARKER",
    "MARKER_HELP",
    "add_options",
    "async_runner_enabled",
    "async_timeout",
    "no_config_note",
    "resolve_options",
]

MARKER = "cfwf"
MARKER_HELP = (
    "cfwf(config=None, clock=None, storage=None, limits=None, compatibility_date=None, "
    "freeze_user_time=False, step_call_form=False, **options): options for the emulators that the cfwf fixtures "
    "create in this test; config is a wrangler file or directory relative to the rootdir, or "
    "False for an empty emulator; other keywords go to cfwf_emulator.Emulator."
)
CONFIG_NAMES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")
CLOCKS = ("virtual", "real")


def add_options(parser: pytest.Parser) -> None:
    """Register the plugin's command-line and ini options."""
    group = parser.getgroup("cfwf", "Cloudflare Workflows emulator (cfwf-emulator)")
    group.addoption(
        "--cfwf-config",
        dest="cfwf_config",
        metavar="PATH",
        default=None,
        help="wrangler.json/.jsonc/.toml (or its directory) that the cfwf fixture loads, "
        "relative to the rootdir (default: ini cfwf_config, else the one in the rootdir).",
    )
    group.addoption(
        "--cfwf-clock",
        dest="cfwf_clock",
        choices=CLOCKS,
        default=None,
        help="clock of the emulators the cfwf fixtures create (default: ini cfwf_clock, else virtual).",
    )
    parser.addini("cfwf_config", "wrangler config the cfwf fixture loads, relative to the rootdir.", default="")
    parser.addini("cfwf_clock", "clock of the cfwf fixtures' emulators: virtual (default) or real.", default="")
    parser.addini(
        "cfwf_asyncio",
        "run 'async def' tests that no other plugin claims with asyncio.run (default true).",
        type="bool",
        default=True,
    )
    parser.addini(
        "cfwf_async_timeout",
        "real seconds after which an 'async def' test run by pytest-cfwf fails (default 0: none).",
        default="0",
    )


def async_runner_enabled(config: pytest.Config) -> bool:
    """Whether the plugin runs unclaimed ``async def`` tests (ini ``cfwf_asyncio``)."""
    return bool(config.getini("cfwf_asyncio"))


def async_timeout(config: pytest.Config) -> float | None:
    """The ini ``cfwf_async_timeout`` in seconds, or None when unset or 0."""
    raw = str(config.getini("cfwf_async_timeout") or "0").strip()
    try:
        seconds = float(raw)
    except ValueError:
        raise pytest.UsageError(f"ini option cfwf_async_timeout must be a number of seconds, got {raw!r}") from None
    return seconds if seconds > 0 else None


def _clock(config: pytest.Config) -> str:
    clock = config.getoption("cfwf_clock") or str(config.getini("cfwf_clock") or "").strip() or "virtual"
    if clock not in CLOCKS:
        raise pytest.UsageError(f"ini option cfwf_clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    return str(clock)


def _marker_options(item: pytest.Item | None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if item is None:
        return merged
    for marker in reversed(list(item.iter_markers(MARKER))):
        if marker.args:
            raise TypeError(f"@pytest.mark.{MARKER} takes keyword arguments only, got {marker.args!r}")
        merged.update(_given(marker.kwargs))
    return merged


#: Options for which None is a value of its own, not "keep the default": ``hibernate=None``
#: keeps every instance in memory (the default, ``"auto"``, hibernates with a durable store).
_NONE_IS_A_VALUE = frozenset({"hibernate"})


def _given(options: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if value is not None or key in _NONE_IS_A_VALUE}


def _default_config(config: pytest.Config) -> Path | None:
    """The option's or ini's config, else the nearest one in the rootdir or a directory above it
    (as ``Emulator.from_config()`` searches from the working directory), else None."""
    from cfwf_emulator.config import find_config
    from cfwf_emulator.errors import ConfigError

    given = config.getoption("cfwf_config") or str(config.getini("cfwf_config") or "").strip()
    if given:
        return config.rootpath / os.fspath(given)
    try:
        return find_config(config.rootpath)
    except ConfigError:
        return None


def no_config_note(config: pytest.Config) -> str:
    """What an empty emulator's ``env`` says about a missing binding: where the plugin looked."""
    return (
        f"the cfwf fixture found no wrangler config in the rootdir {config.rootpath} or any directory "
        f"above it (looked for {', '.join(CONFIG_NAMES)}), so its emulator is empty; pass "
        "--cfwf-config PATH, set the ini option cfwf_config, use @pytest.mark.cfwf(config=...), or "
        "call cfwf.add_workflow"
    )


def resolve_options(
    config: pytest.Config, item: pytest.Item | None, overrides: dict[str, Any]
) -> tuple[Path | None, dict[str, Any], bool]:
    """The wrangler config to load (None: an empty emulator), the ``Emulator`` keyword options,
    and whether a config was searched for and not found.

    A None value means "keep the default" for any key but ``hibernate`` (where it means never);
    ``config=False`` means no config at all.
    """
    options: dict[str, Any] = {"clock": _clock(config), "storage": "memory"}
    options.update(_marker_options(item))
    options.update(_given(overrides))
    source = options.pop("config", None)
    if source is False:
        return None, options, False
    if source is None:
        found = _default_config(config)
        return found, options, found is None
    return config.rootpath / os.fspath(source), options, False
