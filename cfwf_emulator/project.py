"""Loading a Cloudflare project: import its main module and wire its bindings into an emulator.

``Emulator.from_config`` reads the wrangler config (``cfwf_emulator.config``), installs the
``workers`` compatibility package, imports ``main`` with its directory importable (so sibling
modules import as they do on Workers), registers each ``workflows[]`` class, and puts vars, KV,
D1 and R2 bindings on ``env``. Binding kinds the emulator does not emulate raise a clear error
on first use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sys
import tempfile
import weakref
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .resources.kv import KVNamespace
from .store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from .config import ProjectConfig
    from .emulator import Emulator

__all__ = ["import_main", "wire_project"]


class PersistentKVNamespace(KVNamespace):
    """A KV namespace saved with the instance state after every change (durable storage only)."""

    _store: SQLiteStore
    _key: str

    @classmethod
    def attach(cls, binding: str, now_ms: Any, store: SQLiteStore) -> "PersistentKVNamespace":
        """The namespace ``binding``, loaded from ``store`` and saved back to it."""
        namespace = cls(binding, now_ms)
        namespace._store = store
        namespace._key = f"kv:{binding}"
        saved = store.load_resource(namespace._key)
        if saved is not None:
            namespace.load(saved)
        return namespace

    async def put(self, key: Any, value: Any, options: Any = None, /, **kwargs: Any) -> None:
        """``KVNamespace.put``, then save."""
        await super().put(key, value, options, **kwargs)
        self._store.save_resource(self._key, self.dump())

    async def delete(self, key: Any, /) -> None:
        """``KVNamespace.delete``, then save."""
        await super().delete(key)
        self._store.save_resource(self._key, self.dump())


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
        hint = (
            "; main must not call sys.exit() or exit() at import time (guard it with "
            'if __name__ == "__main__":)'
            if isinstance(exc, SystemExit)
            else ""
        )
        raise ConfigError(f"{path}: importing the main module failed: {detail}{hint}") from exc
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


def wire_project(emulator: "Emulator", project: "ProjectConfig") -> ModuleType | None:
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
        emulator.add_workflow(workflow.name, cls, binding=workflow.binding, step_limit=workflow.step_limit)
    clock = emulator.clock
    store = emulator._store
    durable = store if isinstance(store, SQLiteStore) else None
    for kv in project.kv_namespaces:
        namespace = KVNamespace(kv.binding, clock.now_ms)
        if durable is not None:
            namespace = PersistentKVNamespace.attach(kv.binding, clock.now_ms, durable)
        emulator.env._set(kv.binding, namespace)
    for database in project.d1_databases:
        path = ":memory:"
        if durable is not None:
            path = str(durable.path.with_name(durable.path.name + ".d1") / f"{database.binding}.sqlite3")
        emulator.env._set(database.binding, D1Database(database.binding, path))
    if project.r2_buckets:
        if durable is not None:
            scratch = durable.path.with_name(durable.path.name + ".r2")
        else:
            scratch = Path(tempfile.mkdtemp(prefix="cfwf-r2-"))
            weakref.finalize(emulator, shutil.rmtree, scratch, True)
        for bucket in project.r2_buckets:
            directory = scratch / bucket.binding
            directory.mkdir(parents=True, exist_ok=True)
            emulator.env._set(bucket.binding, R2Bucket(bucket.binding, directory, now_ms=clock.now_ms))
    for other in project.unsupported:
        emulator.env._set(other.binding, UnsupportedBinding(other.binding, other.kind))
    if module is not None:
        default = getattr(module, "Default", None)
        on_fetch = getattr(module, "on_fetch", None)
        if isinstance(default, type) and callable(getattr(default, "fetch", None)):
            emulator.add_worker(default)
        elif callable(on_fetch):
            emulator.add_worker(on_fetch)
    return module
