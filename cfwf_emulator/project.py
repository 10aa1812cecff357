"""Loading a Cloudflare project: import its main module and wire its bindings into an emulator.

``Emulator.from_config`` reads the wrangler config (``cfwf_emulator.config``), installs the
``workers`` compatibility package, imports ``main`` with its directory importable (so sibling
modules import as they do on Workers), registers each ``workflows[]`` class, and puts vars, KV,
D1 and R2 bindings on ``env``. Binding kinds the emulator does not emulate raise a clear error
on first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import shutil
import sys
import tempfile
import traceback
import warnings
import weakref
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ConfigError, ConfigWarning
from .resources.kv import KVNamespace, entry_from_record, entry_record, lone_surrogate
from .store.sqlite import SQLiteStore, StoreError

if TYPE_CHECKING:
    from .clock import Clock
    from .config import ProjectConfig
    from .store import Store

__all__ = ["import_main", "reload_main", "wire_project"]


class PersistentKVNamespace(KVNamespace):
    """A KV namespace kept in the state file, one row per key (durable storage only).

    Key ``k`` of binding ``B`` is the row ``kv:B:k`` of the ``resources`` table; ``put`` and
    ``delete`` write that row alone, so a write costs the same however many keys the namespace
    holds. A namespace saved by an earlier version as one row (``kv:B``) loads; it is converted to
    rows (and rows of expired keys are removed) with the namespace's first write, in the same
    transaction, so loading writes nothing. A row that cannot be read makes only its own key unreadable:
    reading the key raises :class:`StoreError` naming the binding and the key, and ``put`` or
    ``delete`` of the key replace the row. If the old one-row save itself is unreadable, every
    use of this namespace raises such an error (other namespaces are not affected).
    """

    _state_file: SQLiteStore
    _prefix: str
    _unreadable: dict[str, str]  # key -> why its saved row cannot be read
    _broken: str | None  # why the namespace's one-row save cannot be read
    _pending_saves: dict[str, Any]  # row name -> record, written with the first write
    _pending_deletes: set[str]  # row names removed with the first write

    @classmethod
    def attach(cls, binding: str, now_ms: Any, store: SQLiteStore) -> "PersistentKVNamespace":
        """The namespace ``binding``, loaded from ``store`` and saved back to it key by key."""
        if ":" in binding:
            raise ValueError(
                f"KV binding {binding!r}: a persisted binding name cannot contain ':' (it separates "
                "the binding from the key in the saved rows); use a JavaScript identifier"
            )
        namespace = cls(binding, now_ms)
        namespace._state_file = store
        namespace._prefix = f"kv:{binding}:"
        namespace._unreadable = {}
        namespace._broken = None
        namespace._pending_saves = {}
        namespace._pending_deletes = set()
        namespace._load()
        return namespace

    def _load(self) -> None:
        legacy = f"kv:{self.binding}"
        saves: dict[str, Any] = {}  # row name -> record: the one-row save, converted
        deletes: set[str] = set()
        try:
            old = self._state_file.load_resource(legacy)
        except ValueError as exc:  # not JSON
            old = exc
        if old is not None:
            entries = old.get("entries") if isinstance(old, dict) else None
            if not isinstance(entries, dict):
                why = f"{type(old).__name__}: {old}" if isinstance(old, Exception) else "it has no entries"
                self._broken = (
                    f"its saved state (row {legacy!r} of the resources table in {self._state_file.path}) is "
                    f"corrupt ({why}), so none of its keys can be read. Restore the state file from a "
                    "backup, or delete that row to start the namespace empty: sqlite3 "
                    f"{self._state_file.path} \"DELETE FROM resources WHERE name = '{legacy}'\""
                )
                return
            for key, record in entries.items():
                if lone_surrogate(key) >= 0:
                    warnings.warn(
                        f"KV namespace {self.binding}: dropped saved key {key!r} while converting the "
                        "namespace to one row per key: it has a lone surrogate, which keys can no "
                        "longer have",
                        stacklevel=2,
                    )
                    continue
                saves[self._prefix + key] = self._adopt(key, record)
            deletes.add(legacy)
        for name, data in self._state_file.load_resources(self._prefix):
            saves.pop(name, None)  # a key's own row is newer than the one-row save
            key = name[len(self._prefix) :]
            try:
                if not isinstance(data, str):
                    raise TypeError(f"the row holds {type(data).__name__}, not JSON text")
                self._adopt(key, json.loads(data))
            except (TypeError, ValueError) as exc:
                self._entries.pop(key, None)
                self._unreadable[key] = f"{type(exc).__name__}: {exc}"
        now = self._now_ms()
        for key in [key for key, entry in self._entries.items() if entry.expired(now)]:
            del self._entries[key]
            saves.pop(self._prefix + key, None)
            deletes.add(self._prefix + key)
        self._pending_saves, self._pending_deletes = saves, deletes

    def _adopt(self, key: str, record: Any) -> Any:
        """Take ``record`` as the entry of ``key`` (or note why it cannot be); return it as saved."""
        try:
            self._entries[key] = entry_from_record(record)
        except (TypeError, ValueError) as exc:
            self._entries.pop(key, None)
            self._unreadable[key] = f"{type(exc).__name__}: {exc}"
            return record
        self._unreadable.pop(key, None)
        return entry_record(self._entries[key])

    def _fail_if_broken(self) -> None:
        if self._broken is not None:
            raise StoreError(f"KV namespace {self.binding}: {self._broken}")

    def _check_readable(self, key: str) -> None:
        self._fail_if_broken()
        why = self._unreadable.get(key)
        if why is not None:
            raise StoreError(
                f"KV namespace {self.binding}: the saved value of key {key!r} in {self._state_file.path} is "
                f"corrupt ({why}); other keys are not affected. Overwrite it with put(), remove it "
                "with delete(), or restore the state file from a backup."
            )

    def _unreadable_names(self) -> list[str]:
        self._fail_if_broken()
        return list(self._unreadable)

    def _write_row(self, key: str, record: Any | None) -> None:
        """Save ``record`` as the row of ``key`` (None: delete the row), with any conversion
        still pending from loading, in one transaction."""
        self._fail_if_broken()
        name = self._prefix + key
        saves = {row: data for row, data in self._pending_saves.items() if row != name}
        deletes = self._pending_deletes - {name}
        if record is None:
            deletes.add(name)  # also the row of a key that expired in memory
        else:
            saves[name] = record
        self._state_file.write_resources(saves.items(), deletes)
        self._pending_saves, self._pending_deletes = {}, set()
        self._unreadable.pop(key, None)

    def _store_entry(self, key: str, entry: Any) -> None:
        self._write_row(key, entry_record(entry))
        super()._store_entry(key, entry)

    def _remove_entry(self, key: str) -> None:
        self._write_row(key, None)
        super()._remove_entry(key)


def import_main(path: Path) -> ModuleType:
    """Import the project's main module; its directory goes on ``sys.path`` for sibling imports."""
    path = path.resolve()
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = path.stem
    existing = sys.modules.get(name)
    if existing is not None:
        if getattr(existing, "__file__", None) and Path(existing.__file__ or "").resolve() == path:
            return existing
        name = f"cfwf_main_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}_{path.stem}"
        if name in sys.modules:
            return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot import it as a Python module (main must be a .py file)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        del sys.modules[name]
        raise
    except BaseException as exc:  # sys.exit() at import time too: it must not end the host
        del sys.modules[name]
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        where = _where(exc, path.parent)
        if where is not None:
            detail += f" (at {where})"
        hint = (
            "; main must not call sys.exit() or exit() at import time (guard it with "
            'if __name__ == "__main__":)'
            if isinstance(exc, SystemExit)
            else ""
        )
        raise ConfigError(f"{path}: importing the main module failed: {detail}{hint}") from exc
    return module


def _where(exc: BaseException, directory: Path) -> str | None:
    """``file:line`` of the project's code that raised ``exc`` (the line a SyntaxError points at)."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{exc.filename}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [frame for frame in frames if _is_under(frame.filename, directory)]
    if not inside:
        return None
    return f"{inside[-1].filename}:{inside[-1].lineno}"


def _is_under(filename: str | None, directory: Path) -> bool:
    if not filename:
        return False
    try:
        return Path(filename).resolve().is_relative_to(directory)
    except (OSError, ValueError):
        return False


def _project_modules(directory: Path) -> dict[str, ModuleType]:
    """The imported modules whose source is in ``directory`` (or below it)."""
    return {
        name: module for name, module in list(sys.modules.items())
        if _is_under(getattr(module, "__file__", None), directory)
    }


def _forget_bytecode(source: str | None) -> None:
    """Remove the cached bytecode of ``source``: an edit within the second it was cached, keeping
    the file's size, would otherwise be imported as the old code (the cache is checked by mtime in
    whole seconds and size)."""
    if source and source.endswith(".py"):
        with contextlib.suppress(OSError, ValueError):
            Path(importlib.util.cache_from_source(source)).unlink()


def reload_main(emulator: "ProjectHost", project: "ProjectConfig") -> ModuleType:
    """Import the project's main module again, as new module objects, and put its code in place.

    Every module imported from the main module's directory (or below) is imported afresh (no
    ``importlib.reload``: a module left stale would keep the old code). The workflow classes are
    swapped with ``replace_workflow`` (running instances take them at their next replay) and the
    Worker's ``fetch``/``scheduled`` handlers replaced. When the import fails (a SyntaxError, an
    exception at import time, a workflow class gone) this raises the ConfigError naming the file
    and line, and the old modules and classes stay as they were.
    """
    if project.main is None:
        raise ConfigError(f"{project.path}: main: the project has no main module to reload")
    directory = project.main.resolve().parent
    previous = _project_modules(directory)
    for name, old in previous.items():
        del sys.modules[name]
        _forget_bytecode(getattr(old, "__file__", None))
    try:
        module = import_main(project.main)
        classes = [
            (workflow.name, _workflow_class(module, project, workflow.class_name, index))
            for index, workflow in enumerate(project.workflows)
        ]
    except BaseException:
        for name in _project_modules(directory):
            del sys.modules[name]
        sys.modules.update(previous)
        raise
    for name, cls in classes:
        emulator.replace_workflow(name, cls)
    _wire_handlers(emulator, module, project)
    return module


def _workflow_class(module: ModuleType, project: "ProjectConfig", class_name: str, index: int) -> type:
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        defined = sorted(
            name for name, value in vars(module).items()
            if isinstance(value, type) and callable(getattr(value, "run", None)) and value.__module__ == module.__name__
        )
        raise ConfigError(
            f"{project.path}: workflows[{index}].class_name: {class_name!r} is not a class in "
            f"{project.main}; classes with a run() method there: {', '.join(defined) or 'none'}"
        )
    return cls


class _Env(Protocol):
    def bind(self, name: str, value: Any) -> None: ...


class ProjectHost(Protocol):
    """What :func:`wire_project` needs of an :class:`~cfwf_emulator.Emulator` (a protocol, so this
    module and the emulator's never import each other)."""

    @property
    def clock(self) -> "Clock":
        """The emulator's clock."""

    @property
    def store(self) -> "Store":
        """Where instances are kept."""

    @property
    def env(self) -> _Env:
        """``emu.env``."""

    def add_workflow(
        self,
        name: str,
        cls: type,
        *,
        binding: str | None = ...,
        step_limit: int | None = ...,
        schedules: "str | list[str] | tuple[str, ...] | None" = ...,
    ) -> Any:
        """Register a workflow (with its cron schedules, if any)."""

    def add_worker(self, handler: Any) -> None:
        """Register the Worker's fetch handler."""

    def replace_workflow(self, name: str, cls: type) -> None:
        """Run ``cls`` for the registered workflow ``name`` from now on."""

    def add_scheduled_handler(self, handler: Any, crons: "str | list[str] | tuple[str, ...]" = ()) -> None:
        """Set the Worker's ``scheduled()`` handler and its crons."""


def wire_project(emulator: ProjectHost, project: "ProjectConfig") -> ModuleType | None:
    """Register the project's workflows, resources and Worker on ``emulator``."""
    from .resources import D1Database, R2Bucket, UnsupportedBinding

    module = None
    if project.workflows and project.main is None:
        raise ConfigError(f"{project.path}: main: workflows need a main module that defines their classes")
    if project.main is not None:
        module = import_main(project.main)
    for index, workflow in enumerate(project.workflows):
        assert module is not None
        cls = _workflow_class(module, project, workflow.class_name, index)
        emulator.add_workflow(
            workflow.name, cls, binding=workflow.binding, step_limit=workflow.step_limit,
            schedules=workflow.schedules or None,
        )
    clock = emulator.clock
    store = emulator.store
    durable = store if isinstance(store, SQLiteStore) else None
    for kv in project.kv_namespaces:
        namespace = KVNamespace(kv.binding, clock.now_ms)
        if durable is not None:
            namespace = PersistentKVNamespace.attach(kv.binding, clock.now_ms, durable)
        emulator.env.bind(kv.binding, namespace)
    for database in project.d1_databases:
        path = ":memory:"
        if durable is not None:
            path = str(durable.path.with_name(durable.path.name + ".d1") / f"{database.binding}.sqlite3")
        emulator.env.bind(database.binding, D1Database(database.binding, path))
    if project.r2_buckets:
        if durable is not None:
            scratch = durable.path.with_name(durable.path.name + ".r2")
        else:
            scratch = Path(tempfile.mkdtemp(prefix="cfwf-r2-"))
            weakref.finalize(emulator, shutil.rmtree, scratch, True)
        for bucket in project.r2_buckets:
            directory = scratch / bucket.binding  # R2Bucket makes it, refusing a link in its place
            emulator.env.bind(bucket.binding, R2Bucket(bucket.binding, directory, now_ms=clock.now_ms))
    for other in project.unsupported:
        emulator.env.bind(other.binding, UnsupportedBinding(other.binding, other.kind))
    if module is not None:
        _wire_handlers(emulator, module, project)
    return module


def _wire_handlers(emulator: ProjectHost, module: ModuleType, project: "ProjectConfig") -> None:
    """Register the main module's Worker handlers: ``fetch`` (or ``on_fetch``) and ``scheduled``."""
    default = getattr(module, "Default", None)
    on_fetch = getattr(module, "on_fetch", None)
    if isinstance(default, type) and callable(getattr(default, "fetch", None)):
        emulator.add_worker(default)
    elif callable(on_fetch):
        emulator.add_worker(on_fetch)
    if isinstance(default, type) and callable(getattr(default, "scheduled", None)):
        emulator.add_scheduled_handler(default, project.crons)
    elif callable(getattr(module, "on_scheduled", None)):
        emulator.add_scheduled_handler(module.on_scheduled, project.crons)
    elif project.crons:
        warnings.warn(
            f"{project.path}: triggers.crons: the main module defines no scheduled() handler (a "
            "Default(WorkerEntrypoint) method scheduled(self, controller, env, ctx)), so these crons "
            "run nothing",
            ConfigWarning,
            stacklevel=4,
        )
