"""Reload on change: ``cfwf dev`` watches the project's Python sources and its config, and runs the
new code in the same process when they change (``Emulator.reload``), as after a deploy."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, Iterable

import watchfiles

from ..config import load_config
from ..emulator import Emulator
from ..errors import ConfigError

__all__ = ["Reloader"]

#: Milliseconds without a further change before a batch of changes is acted on.
SETTLE_MS = 50


class Reloader:
    """Watches the main module's directory (recursively, ``.py`` files) and the wrangler config;
    each batch of changes reloads the code once and prints one line saying what happened."""

    def __init__(self, emu: Emulator, log: Callable[[str], None]) -> None:
        project = emu.project
        if project is None or project.main is None:
            raise ConfigError("reloading needs a project with a main module (Emulator.from_config)")
        self.emu = emu
        self.log = log
        self.project = project
        self.config = Path(project.path).resolve()
        self.sources = Path(project.main).resolve().parent

    def roots(self) -> list[tuple[Path, bool]]:
        """The directories to watch, each with whether to watch below it."""
        roots = [(self.sources, True)]
        if not self.config.parent.is_relative_to(self.sources):
            roots.append((self.config.parent, False))
        return roots

    def wanted(self, change: Any, path: str) -> bool:
        """Whether a change of ``path`` matters: the config, or a Python source of the project."""
        where = Path(path)
        if where == self.config:
            return True
        if where.suffix != ".py" or not where.is_relative_to(self.sources):
            return False
        inside = where.relative_to(self.sources).parts
        return not any(part.startswith(".") or part == "__pycache__" for part in inside)

    async def start(self, stop: asyncio.Event) -> "asyncio.Task[None]":
        """Watch until ``stop`` is set; the watches are in place when this returns. Returns the
        task acting on each batch of changes (it ends once ``stop`` is set)."""
        changes: asyncio.Queue[set[str]] = asyncio.Queue()
        feeds = [asyncio.ensure_future(self._feed(root, deep, stop, changes)) for root, deep in self.roots()]
        await asyncio.sleep(0)  # each feed's first step puts its watches in place
        return asyncio.ensure_future(self._consume(stop, changes, feeds))

    async def _consume(
        self, stop: asyncio.Event, changes: "asyncio.Queue[set[str]]", feeds: "list[asyncio.Task[None]]"
    ) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                batch = asyncio.ensure_future(changes.get())
                await asyncio.wait([batch, stopping], return_when=asyncio.FIRST_COMPLETED)
                if not batch.done():
                    batch.cancel()
                    break
                self.apply(batch.result())
        finally:
            stop.set()
            stopping.cancel()
            await asyncio.gather(*feeds, return_exceptions=True)

    async def _feed(self, root: Path, recursive: bool, stop: asyncio.Event, into: "asyncio.Queue[set[str]]") -> None:
        try:
            async for batch in watchfiles.awatch(
                root, watch_filter=self.wanted, step=SETTLE_MS, stop_event=stop, recursive=recursive,
            ):
                into.put_nowait({path for _, path in batch})
        except Exception as exc:  # the directory went away, the watch limit was reached, ...
            self.log(f"stopped watching {root} ({type(exc).__name__}: {exc}); restart cfwf dev to reload again")

    def apply(self, paths: Iterable[str]) -> None:
        """Act on changed ``paths``: check the config, then import the code again (one log line)."""
        changed = sorted({Path(path) for path in paths})
        if self.config in changed:
            self._check_config()
        sources = [path for path in changed if path != self.config]
        if not sources:
            return
        names = ", ".join(self._shown(path) for path in sources)
        try:
            self.emu.reload()
        except Exception as exc:  # a ConfigError names the file and line
            detail = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
            self.log(f"reload failed after a change to {names}; still running the previous code: {detail}")
            return
        self.log(
            f"reloaded {self._shown(Path(self.project.main))} after a change to {names} "
            "(running instances take the new code at their next replay)"
        )

    def _check_config(self) -> None:
        try:
            fresh = load_config(self.config, env=self.project.environment)
        except ConfigError as exc:
            self.log(f"{self.config} changed and cannot be read: {exc}")
            return
        if fresh != self.project:
            self.log(
                f"{self._shown(self.config)} changed: workflows, bindings and vars are read when cfwf dev "
                "starts; restart it to apply them (the code is reloaded without a restart)"
            )

    def _shown(self, path: Path) -> str:
        root = self.config.parent
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
