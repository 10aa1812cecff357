"""Opening the project and its persisted state for one command.

A read opens the state for inspection (nothing runs; it works while another process owns the
file); a write opens it to operate (takes the state file's lock and runs instances). The state
lives in one SQLite file, ``<persist-to>/workflows.sqlite3``; ``--persist-to`` defaults to
``.cfwf/state`` beside the wrangler config.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from ..config import find_config
from ..emulator import Emulator
from ..errors import ConfigWarning
from .output import Output, UserError

__all__ = [
    "DEFAULT_PERSIST", "STATE_FILE", "ProjectOptions", "config_file", "open_project", "state_file",
]

#: The state directory, relative to the directory of the wrangler config.
DEFAULT_PERSIST = Path(".cfwf") / "state"
#: The state file inside the state directory.
STATE_FILE = "workflows.sqlite3"


@dataclass(frozen=True)
class ProjectOptions:
    """Where the project and its state are: ``--config``, ``--env``, ``--persist-to``."""

    config: str | None
    env: str | None
    persist_to: str | None


def config_file(options: ProjectOptions) -> Path:
    """The wrangler config: ``--config`` (a file, or a directory holding one), else found upward."""
    if options.config is None:
        return find_config()
    path = Path(options.config)
    if not path.exists():
        raise UserError(f"--config {options.config}: no such file or directory; pass the path of your wrangler.jsonc")
    return find_config(path) if path.is_dir() else path.resolve()


def state_file(options: ProjectOptions, config: Path) -> Path:
    """The state file for this project (``--persist-to`` or ``.cfwf/state`` beside the config)."""
    directory = Path(options.persist_to) if options.persist_to else config.parent / DEFAULT_PERSIST
    return directory.resolve() / STATE_FILE


def open_project(options: ProjectOptions, out: Output, *, write: bool) -> Emulator:
    """The project's emulator: to operate on the state (``write``) or to inspect it.

    A read of a project that has no state file yet gets an empty in-memory state (nothing to run,
    and no file is created). Config warnings are printed as warnings.
    """
    config = config_file(options)
    path = state_file(options, config)
    storage = f"sqlite:///{path}"
    extra: dict[str, object] = {}
    if write:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the state directory {path.parent} ({exc.strerror}); pass --persist-to DIR") from None
    elif not path.exists():
        storage = "memory"
    else:
        extra["mode"] = "inspect"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        emulator = Emulator.from_config(config, env=options.env, storage=storage, clock="real", **extra)
    for warning in caught:
        if issubclass(warning.category, ConfigWarning):
            out.warn(str(warning.message))
    return emulator
