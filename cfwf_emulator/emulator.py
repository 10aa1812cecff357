"""``Emulator``: hosts workflows in-process, in real or virtual time.

    emu = Emulator(clock="virtual")
    emu.add_workflow("order-workflow", OrderWorkflow, binding="ORDERS")
    async with emu:
        inst = await emu.env.ORDERS.create(id="o-1", params={"order_id": 7})
        await emu.run_until_idle()
        print(await inst.status())
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import warnings
import weakref
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Iterator, TypeVar

from .api import LocalAPI
from .bindings import Workflow, WorkflowInstance
from .clock import LATEST_TIME_MS, Clock, VirtualClock, resolve_clock
from .compat import Compatibility
from .config.bindings import BINDING_NAME_FIX, binding_name_problem
from .durations import DurationError, parse_duration_or_timedelta
from .engine.core import Engine, WorkflowDefinition
from .engine.crons import CronTable
from .engine.hibernation import DEFAULT_AFTER_MS
from .engine.scheduler import Scheduler
from .errors import ConfigError, ConfigWarning, StalledError, did_you_mean
from .hooks import PROJECT, EngineHookSpecs, make_plugin_manager
from .limits import Limits, resolve_limits
from .serialization import utc_from_ms
from .store import MemoryStore, SQLiteStore, Store, open_store
from .store.base import StateReadOnlyError
from .store.lock import StateLock
from .validation import check_crons, check_workflow_name

__all__ = ["Emulator", "Env"]

T = TypeVar("T")
LOCK_WAIT_S = 30.0
#: ``Emulator(mode=...)``: run instances (the owner of the state), or only read a state file.
MODES = ("operate", "inspect")


def _check_flags(flags: object) -> None:
    if isinstance(flags, str) or not isinstance(flags, (list, tuple)) or not all(isinstance(f, str) for f in flags):
        raise ConfigError(f'compatibility_flags must be a list of str, such as ["python_workers"], got {flags!r}')


def _call_relaxed(handler: Callable[..., Any], *args: Any) -> Any:
    """Call ``handler`` with as many of ``args`` as it accepts, as workerd calls a Python Worker's
    ``on_fetch`` (Pyodide's ``callRelaxed``: extra arguments are dropped)."""
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return handler(*args)
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return handler(*args)
    positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)
    return handler(*args[:positional])


def _check_options(vars: object, flags: object, freeze_user_time: object, step_call_form: object) -> None:
    """Reject malformed constructor options with a message saying what to pass."""
    if vars is not None:
        if not isinstance(vars, dict) or not all(isinstance(key, str) and key.isidentifier() for key in vars):
            raise ConfigError(f"vars must be a dict whose keys are identifiers (names on env), got {vars!r}")
    _check_flags(flags)
    if not isinstance(freeze_user_time, bool):
        raise ConfigError(f"freeze_user_time must be True or False, got {freeze_user_time!r}")
    if not isinstance(step_call_form, bool):
        raise ConfigError(f"step_call_form must be True or False, got {step_call_form!r}")


def _hibernate_after_ms(hibernate: Any, store: Store) -> float | None:
    """The hibernation threshold (ms) the ``hibernate`` option gives with ``store``; None: never.

    ``"auto"`` is :data:`~cfwf_emulator.engine.hibernation.DEFAULT_AFTER_MS` with a durable store
    and never with the in-memory one; ``"always"`` replays after every step instead (None here).
    """
    if hibernate is None or hibernate is False or hibernate == "always":
        return None
    if hibernate == "auto":
        return None if isinstance(store, MemoryStore) else DEFAULT_AFTER_MS
    try:
        return parse_duration_or_timedelta(hibernate, what="hibernate threshold")
    except DurationError as exc:
        raise ConfigError(
            f'hibernate must be "auto" (the default), None (never), "always" or a duration: {exc}'
        ) from None


def _inspects(mode: object, storage: object) -> bool:
    """Whether ``mode`` is ``"inspect"``, which needs a SQLite state file to read; ValueError
    for any other mode than ``"operate"`` and for inspecting memory."""
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(
            f'mode must be "operate" (run instances; the default) or "inspect" (only read a state '
            f"file, which another process may be running), got {mode!r}"
        )
    if mode == "operate":
        return False
    if (isinstance(storage, str) and storage.startswith("sqlite:")) or (
        isinstance(storage, SQLiteStore) and storage.readonly
    ):
        return True
    raise ValueError(
        f'mode="inspect" reads a state file that an emulator with SQLite storage writes; '
        f'storage={storage!r} has none: pass storage="sqlite:///PATH" (the path that emulator uses)'
    )


def _observer_problem(observer: object) -> str | None:
    """Why ``observer`` would hear nothing (unmarked, misspelt or no hook methods), or None."""
    hooks = [name for name in vars(EngineHookSpecs) if name.startswith("cfwf_")]
    methods = [name for name in dir(observer) if name.startswith("cfwf_") and callable(getattr(observer, name, None))]
    marked = [name for name in methods if getattr(getattr(observer, name), PROJECT + "_impl", None) is not None]
    unmarked = [name for name in methods if name in hooks and name not in marked]
    problems = [f"{name} is not a hook{did_you_mean(name, hooks)}" for name in methods if name not in hooks]
    if unmarked:
        problems.insert(0, f"{', '.join(unmarked)} {'is' if len(unmarked) == 1 else 'are'} not marked @hookimpl")
    if not problems and not marked:
        problems.append("it has no hook methods")
    if not problems:
        return None
    return (
        f"register({type(observer).__name__} object): {'; '.join(problems)}. Mark each hook method with "
        "@hookimpl (from cfwf_emulator.hooks import hookimpl) and name it after a hook: "
        f"{', '.join(hooks)}"
    )


class Env:
    """``emu.env``: workflow bindings and config ``vars`` by name (``env.ORDERS``, ``env["ORDERS"]``)."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}
        self._empty_note = "add_workflow or a wrangler config adds them"

    def bind(self, name: str, value: Any) -> None:
        """Put ``value`` on env as ``name`` (a binding or var; the loaders and test tools use it)."""
        self._items[name] = value

    def note(self, text: str) -> None:
        """Say ``text`` when a name is missing while env is empty (the pytest plugin: where it
        looked for a wrangler config)."""
        self._empty_note = text

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or f"none yet ({self._empty_note})"
            raise AttributeError(f"env has no binding or var named {name!r}; known: {known}") from None

    def __getitem__(self, name: str) -> Any:
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"<Env {sorted(self._items)}>"


class Emulator:
    """Runs Cloudflare Workflows in this process.

    Options: ``clock`` (``"real"`` default, ``"virtual"`` or a :class:`~cfwf_emulator.clock.Clock`),
    ``storage`` (``"memory"``), ``limits`` (``"paid"`` default, ``"free"`` or a :class:`Limits`),
    ``compatibility_date`` and ``compatibility_flags`` (which Cloudflare behaviour applies; newest
    when no date is given), ``vars`` (plain values exposed on ``env``), ``freeze_user_time``
    (opt-in: while the emulator runs, ``datetime.now()``/``time.time()`` in user code follow the
    virtual clock, through freezegun with ``real_asyncio=True``; the engine itself never reads
    patched time). With ``storage="sqlite:///PATH"`` instances survive process restarts, and
    ``on_locked`` says what to do when another emulator runs the same file: ``"error"`` (default)
    or ``"wait"`` (up to 30 s). ``hibernate`` evicts an instance from memory while it waits longer
    than the given duration (``"1 minute"``, ms, ``timedelta``) for a timer or an event, and
    replays it when woken, as Cloudflare does. ``"auto"`` (default) hibernates after 1 minute
    with a durable store (SQLite, or a :class:`Store` of your
    own) and never with the in-memory store (nothing to reload from); ``None`` (or ``False``)
    keeps every instance in memory; ``"always"`` replays every instance after each step (a test
    mode that exposes state kept outside steps).
    ``crons=True`` fires the workflows' ``schedules`` and the Worker's ``triggers.crons`` on the
    emulator's clock (:meth:`scheduled` fires them on demand either way).

    ``mode="inspect"`` (default ``"operate"``) only reads a SQLite state file, also while another
    process runs an emulator on it: no lock is taken, nothing is recovered, run or written, and
    each query of :attr:`api` reads what was last committed. Every command (and driving time)
    raises :class:`~cfwf_emulator.StateReadOnlyError`.
    ``step_call_form=True`` lets ``step.do`` also take the JavaScript-style call form
    ``await step.do(name, [config], callback)`` (for tests ported from JavaScript); by default it
    fails as with Cloudflare's Python SDK, which has only the decorator form.
    """

    def __init__(
        self,
        *,
        clock: "str | Clock" = "real",
        storage: "str | Store" = "memory",
        limits: "str | Limits" = "paid",
        compatibility_date: str | None = None,
        compatibility_flags: "list[str] | tuple[str, ...]" = (),
        vars: dict[str, Any] | None = None,
        freeze_user_time: bool = False,
        on_locked: str = "error",
        hibernate: Any = "auto",
        mode: str = "operate",
        crons: bool = False,
        step_call_form: bool = False,
    ) -> None:
        _check_options(vars, compatibility_flags, freeze_user_time, step_call_form)
        if not isinstance(crons, bool):
            raise ConfigError(f"crons must be True (fire cron schedules on the clock) or False, got {crons!r}")
        inspects = _inspects(mode, storage)
        #: ``"operate"`` (runs instances, owns the state) or ``"inspect"`` (only reads it).
        self.mode = mode
        self.clock = resolve_clock(clock)
        if freeze_user_time and not isinstance(self.clock, VirtualClock):
            raise ConfigError("freeze_user_time=True needs the virtual clock: Emulator(clock=\"virtual\")")
        self.freeze_user_time = freeze_user_time
        #: Whether ``step.do`` accepts the call form (``Emulator(step_call_form=True)``).
        self.step_call_form = step_call_form
        self._freezer: Any = None
        self.limits = resolve_limits(limits)
        self.compatibility = Compatibility.resolve(compatibility_date, tuple(compatibility_flags))
        self.hooks = make_plugin_manager()
        self.env = Env()
        for name, value in (vars or {}).items():
            self.env.bind(name, value)
        if on_locked not in ("error", "wait"):
            raise ConfigError(f'on_locked must be "error" or "wait", got {on_locked!r}')
        self.on_locked = on_locked
        self._scheduler = Scheduler(self.clock)
        self._store = open_store(storage, readonly=inspects)
        self._lock: StateLock | None = None
        self._inspected: str | None = None
        if isinstance(self._store, SQLiteStore):
            self._lock = self._store.lock
            weakref.finalize(self, self._store.close)
            if inspects:
                self._inspected = str(self._store.path)
        self._engine = Engine(self._store, self._scheduler, self.hooks, self.env)
        #: Whether cron schedules fire on the emulator's clock (``crons=True``).
        self.crons = crons
        self._crons = CronTable(self._engine, self._scheduler, self.env)
        #: The engine's public API (:class:`cfwf_emulator.api.LocalAPI`): what every door calls.
        self.api = LocalAPI(self._engine, self._ready_engine, inspected=self._inspected)
        if hibernate == "always":
            self._engine.replay_every_step = True
        self._engine.hibernate_after_ms = _hibernate_after_ms(hibernate, self._store)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: Any = None
        #: The loaded project config (``from_config`` only) and its imported main module.
        self.project: Any = None
        self.module: Any = None

    @classmethod
    def from_config(cls, path: "str | os.PathLike[str] | None" = None, *, env: str | None = None, **options: Any) -> "Emulator":
        """An emulator for a Cloudflare project described by a wrangler config.

        ``path`` is a ``wrangler.json``/``.jsonc``/``.toml`` file or a directory holding one;
        without it the config is searched upward from the working directory, as wrangler does.
        ``env`` selects a named environment (``env.<name>``). ``options`` are the constructor's
        (``clock``, ``storage``, ``limits``, ``step_call_form``, ...); a ``compatibility_date`` or
        ``compatibility_flags`` given here overrides the config's; ``vars`` are added to the
        config's (and win over them). Raises ``ConfigError`` naming the file, the key, the line
        and the fix when the config is wrong; emits a :class:`~cfwf_emulator.ConfigWarning` for
        each non-fatal finding (an unknown key, say), attributed to the caller. The emulator is
        an instance of ``cls`` and registers each workflow of the config through its
        :meth:`add_workflow` (a subclass overriding it sees every workflow class).
        """
        from .config import load_config
        from .project import wire_project
        from .runtime import install

        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"from_config: path must be a wrangler config file or a directory holding one "
                f"(str or os.PathLike), got {path!r}"
            )
        if env is not None and not isinstance(env, str):
            raise TypeError(f"from_config: env must be the name of an environment in the config, got {env!r}")
        project = load_config(path, env=env)
        for message in dict.fromkeys(project.warnings):
            warnings.warn(message, ConfigWarning, stacklevel=2)
        install()
        options.setdefault("compatibility_date", project.compatibility_date)
        options.setdefault("compatibility_flags", project.compatibility_flags)
        emulator = cls(**options)
        for name, value in project.vars.items():  # any name wrangler accepts; env["my-var"] reads it
            if name not in emulator.env:
                emulator.env.bind(name, value)
        emulator.project = project
        emulator.module = wire_project(emulator, project)
        return emulator

    # -- workflows -------------------------------------------------------------------------

    def add_workflow(
        self,
        name: str,
        cls: type,
        *,
        binding: str | None = None,
        step_limit: int | None = None,
        compatibility_date: str | None = None,
        compatibility_flags: "list[str] | tuple[str, ...] | None" = None,
        schedules: "str | list[str] | tuple[str, ...] | None" = None,
    ) -> Workflow:
        """Register ``cls`` (a ``WorkflowEntrypoint`` subclass) as workflow ``name``.

        ``binding`` is its name on ``env`` (default: ``name`` upper-cased with ``-`` as ``_``);
        ``step_limit`` overrides ``limits.steps`` for this workflow; a compatibility date or
        flags here override the emulator's for this workflow; ``schedules`` (a cron expression in
        Cloudflare's syntax, or a list) create instances as Cloudflare's ``schedules`` do.
        Returns the binding.
        """
        check_workflow_name(name)
        if schedules is not None:
            check_crons(schedules, f"Workflow {name!r} schedules")
        if not isinstance(cls, type) or not callable(getattr(cls, "run", None)):
            raise ConfigError(f"Workflow {name!r}: {cls!r} is not a class with a run(self, event, step) method")
        derived = binding is None
        if binding is None:
            binding = name.upper().replace("-", "_")
        if not isinstance(binding, str):
            raise ConfigError(f"Workflow {name!r}: binding must be a str (its name on env), got {binding!r}")
        problem = binding_name_problem(binding)
        if problem is not None:
            source = " (made from the workflow name; pass binding=)" if derived else ""
            raise ConfigError(f"Workflow {name!r}: {problem}{source}; {BINDING_NAME_FIX}")
        if compatibility_flags is not None:
            _check_flags(compatibility_flags)
        if binding in self.env:
            raise ConfigError(f"env already has a binding or var named {binding!r}")
        limits = self.limits if step_limit is None else self.limits.with_steps(step_limit)
        compat = self.compatibility
        if compatibility_date is not None or compatibility_flags is not None:
            compat = Compatibility.resolve(
                compatibility_date or self.compatibility.date,
                self.compatibility.flags if compatibility_flags is None else tuple(compatibility_flags),
            )
        refused = compat.python_workflows_problem()
        if refused is not None:
            raise ConfigError(f"Workflow {name!r}: {refused}")
        self._engine.add_workflow(WorkflowDefinition(name, cls, binding, limits, compat, self.step_call_form))
        workflow = Workflow(self, name)
        self.env.bind(binding, workflow)
        if schedules is not None:
            self._crons.add_workflow(name, schedules)
            self._rearm_crons()
        return workflow

    def replace_workflow(self, name: str, cls: type) -> None:
        """Run ``cls`` for the registered workflow ``name`` from now on, as after a deploy.

        New instances and every replay use it: an instance blocked on a timer or an event is
        replayed on it at once (its finished steps come from the journal, as on Cloudflare), one
        running a step attempt finishes the attempt and is replayed at its next step boundary, a
        hibernated or paused one when it runs again. Raises ``ConfigError`` for a workflow not
        registered, or a ``cls`` without a ``run(self, event, step)`` method.
        """
        if not isinstance(cls, type) or not callable(getattr(cls, "run", None)):
            raise ConfigError(f"Workflow {name!r}: {cls!r} is not a class with a run(self, event, step) method")
        self._engine.replace_workflow(name, cls)

    def reload(self) -> Any:
        """Import the project's main module again (``from_config`` only) and run its new code.

        The modules of the main module's directory are imported afresh, then each workflow's class
        is swapped with :meth:`replace_workflow` and the Worker's handlers replaced; bindings and
        the config are not read again. Returns the new module. If the import fails (a syntax
        error, an exception at import time, a workflow class missing) this raises a ``ConfigError``
        naming the file and line, and the code in use stays as it was.
        """
        from .project import reload_main

        if self.project is None:
            raise ConfigError("reload() needs an emulator made with Emulator.from_config(...)")
        self.module = reload_main(self, self.project)
        return self.module

    def add_scheduled_handler(self, handler: Any, crons: "str | list[str] | tuple[str, ...]" = ()) -> None:
        """Set the Worker's ``scheduled()`` handler and the crons that run it (``triggers.crons``).

        ``handler`` is a ``WorkerEntrypoint`` subclass with ``async def scheduled(self, controller,
        env, ctx)`` or a function ``on_scheduled(controller, env, ctx)``; ``controller`` has
        ``cron``, ``scheduledTime`` (epoch ms) and ``type``. ``from_config`` calls this for a main
        module whose ``Default`` class defines ``scheduled``.
        """
        self._crons.set_handler(handler, crons)
        self._rearm_crons()

    def _rearm_crons(self) -> None:
        if self.crons and self._loop is not None and self._inspected is None:  # inspecting runs nothing
            self._crons.start()

    async def scheduled(self, cron: str | None = None, at: "datetime | float | None" = None) -> list[WorkflowInstance]:
        """Fire cron triggers now, whatever ``crons=`` says: every configured cron, or only
        ``cron``; ``at`` is the scheduled time (a ``datetime``, naive meaning UTC, or epoch ms;
        default now). Workflow schedules create their instances (``<cron>-<scheduledTime>``;
        one that exists already is not made again) and the Worker's ``scheduled()`` handler runs
        to completion (what it raises is raised here). Returns the instances the schedules created.
        """
        self._refuse_if_inspecting("scheduled")
        scheduled_ms = int(self.clock.now_ms() if at is None else _epoch_ms(at))
        await self._ready_engine()
        try:
            created = await self._crons.fire(cron, scheduled_ms)
        except ValueError as exc:  # a cron expression Cloudflare refuses
            raise ConfigError(f"scheduled(cron={cron!r}): {exc}") from None
        return [WorkflowInstance(self, workflow, instance_id) for workflow, instance_id in created]

    def add_worker(self, handler: Any) -> None:
        """Set the Worker that :meth:`fetch` calls: a ``WorkerEntrypoint`` subclass with
        ``async def fetch(self, request)``, or a legacy ``async def on_fetch(request, env, ctx)``
        (called, as workerd does, with as many of ``request, env, ctx`` as it takes)."""
        if isinstance(handler, type):
            if not callable(getattr(handler, "fetch", None)):
                raise ConfigError(f"Worker {handler.__name__} has no fetch(self, request) method")
        elif not callable(handler):
            raise ConfigError(f"a Worker must be a WorkerEntrypoint subclass or an on_fetch function, got {handler!r}")
        self._worker = handler

    async def fetch(
        self,
        request: Any,
        *,
        method: str = "GET",
        headers: Any = None,
        body: Any = None,
        json: Any = None,
    ) -> Any:
        """Call the Worker's fetch handler in-process, as a browser request would.

        ``request`` is a :class:`~cfwf_emulator.workers.Request` or a URL (a path such as
        ``"/start"`` means ``http://localhost/start``); ``json=`` sends a JSON body. Returns the
        handler's :class:`~cfwf_emulator.workers.Response`.
        """
        from .authoring.entrypoint import ExecutionContext
        from .workers import CURRENT_ENV
        from .workers.http import Request, Response

        if self._worker is None:
            raise ConfigError(
                "No Worker to fetch from: load a project whose main module defines a "
                "WorkerEntrypoint subclass named Default, or call emu.add_worker(cls)"
            )
        await self._ready_engine()
        if not isinstance(request, Request):
            if json is not None:
                if body is not None:
                    raise TypeError("fetch: pass body= or json=, not both")
                import json as json_module

                body = json_module.dumps(json)
                headers = {"Content-Type": "application/json", **dict(headers or {})}
            request = Request(str(request), method=method, headers=headers, body=body)
        token = CURRENT_ENV.set(self.env)
        try:
            if isinstance(self._worker, type):
                response = await self._worker(ExecutionContext(), self.env).fetch(request)
            else:
                response = _call_relaxed(self._worker, request, self.env, ExecutionContext())
                if asyncio.iscoroutine(response):
                    response = await response
        finally:
            CURRENT_ENV.reset(token)
        if not isinstance(response, Response):
            raise TypeError(f"the Worker's fetch handler must return a Response, got {response!r}")
        return response

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind to the running event loop and resume unfinished instances (``async with`` does this).

        With SQLite storage this takes the state file's lock first (``on_locked``), then opens the
        file (creating or upgrading it). A start that fails for any reason gives back everything
        it took: the lock, the file, the loop. With ``mode="inspect"`` it only binds to the loop.
        """
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        if self._loop is not None:
            raise RuntimeError(
                "This emulator is running in another event loop; create one emulator per loop"
            )
        if self._inspected is not None:
            self._loop = loop  # inspection: no lock, no recovery; queries read the file
            return
        if isinstance(self._store, SQLiteStore):
            await self._store.acquire(None if self.on_locked == "error" else LOCK_WAIT_S)
        self._loop = loop
        try:
            if self.freeze_user_time:
                self._freeze()
            self._engine.start(loop)
            self._rearm_crons()
        except BaseException:
            await self.aclose()
            raise

    def _freeze(self) -> None:
        from freezegun import freeze_time

        assert isinstance(self.clock, VirtualClock)
        freezer = freeze_time(self.now, tick=False, real_asyncio=True)
        frozen = freezer.start()
        self._freezer = freezer
        self.clock.on_change = lambda ms: frozen.move_to(utc_from_ms(ms))

    @property
    def store(self) -> Store:
        """Where instances are kept; bindings that persist beside them (KV) use it too."""
        return self._store

    @property
    def loop(self) -> "asyncio.AbstractEventLoop | None":
        """The event loop this emulator runs in, or None while it is not started."""
        return self._loop

    def unfreeze_user_time(self) -> None:
        """Undo ``freeze_user_time``'s patch of ``datetime.now()``; idempotent (``aclose`` does it).

        For a test harness whose event loop closed before the emulator could be closed.
        """
        if self._freezer is None:
            return
        if isinstance(self.clock, VirtualClock):
            self.clock.on_change = None
        freezer, self._freezer = self._freezer, None
        freezer.stop()

    async def aclose(self) -> None:
        """Stop every running instance; their state stays in the store (with SQLite, all of it in
        the state file itself, so the file can be copied once this returns)."""
        if self._loop is None:
            return
        self._crons.stop()
        try:
            await self._engine.stop()
        finally:
            self._loop = None
            try:
                if isinstance(self._store, SQLiteStore):
                    self._store.release()  # checkpoint, close the file, give the lock up
            finally:
                self.unfreeze_user_time()

    async def __aenter__(self) -> "Emulator":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _ready_engine(self) -> Engine:
        if self._loop is None:
            await self.start()
        elif self._loop is not asyncio.get_running_loop():
            raise RuntimeError(
                "This emulator was started in another event loop; create one emulator per loop"
            )
        return self._engine

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` to completion from synchronous code, with the emulator started."""

        async def main() -> T:
            async with self:
                return await awaitable

        return asyncio.run(main())

    def register(self, observer: object, name: str | None = None) -> None:
        """Subscribe ``observer`` to engine events (methods named like :mod:`cfwf_emulator.hooks`).

        The same as ``emu.hooks.register(observer, name)``. An observer that raises is reported as
        an :class:`~cfwf_emulator.hooks.ObserverWarning` and never changes an instance. Each hook
        method must be marked ``@cfwf_emulator.hooks.hookimpl`` (pluggy ignores unmarked ones), so
        an observer with an unmarked or misspelt hook method, or none at all, is a ``TypeError``.
        """
        problem = _observer_problem(observer)
        if problem is not None:
            raise TypeError(problem)
        self.hooks.register(observer, name)

    def unregister(self, observer: object) -> None:
        """Stop sending engine events to ``observer``."""
        self.hooks.unregister(observer)

    # -- time ------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The emulator's current time, a naive UTC ``datetime``."""
        return utc_from_ms(self.clock.now_ms())

    async def run_until_idle(self) -> None:
        """Run until no instance can progress without outside input.

        Virtual clock: keep jumping to the next deadline until every instance is finished,
        paused, or waiting for an event with no timer left (an event wait's timeout *is* a timer,
        so send events before calling this, or use :meth:`advance`). Real clock: return once
        everything left waits for time or input.
        """
        self._refuse_if_inspecting("run_until_idle")
        await self._ready_engine()
        async with self._scheduler.driving():
            await self._run_down(_never)

    async def advance(self, duration: Any) -> None:
        """Move virtual time forward by ``duration`` and run everything that falls due, in order.

        ``duration`` is a Workflows duration (``"90 seconds"``, milliseconds) or a ``timedelta``.
        Returns once nothing that is due is left running. A step callback busy with real I/O
        lets time flow at the real rate, but never past the target: ``advance(0)`` returns at
        once even while a callback waits.
        """
        self._refuse_if_inspecting("advance")
        try:
            ms = parse_duration_or_timedelta(duration, what="advance duration")
        except DurationError as exc:
            raise ValueError(str(exc)) from None
        if not isinstance(self.clock, VirtualClock):
            raise RuntimeError('advance() needs the virtual clock: Emulator(clock="virtual")')
        await self._ready_engine()
        scheduler = self._scheduler
        async with scheduler.driving():
            target = self.clock.now_ms() + ms
            if target > LATEST_TIME_MS:
                raise ValueError(
                    f"advance({duration!r}) would move the clock past 9999-12-31T23:59:59.999Z, the "
                    f"last time the emulator can show; advance by at most "
                    f"{LATEST_TIME_MS - self.clock.now_ms():.0f} ms"
                )
            await self._run_down(_never, target)
            self.clock.jump_to(target)
            await scheduler.settle(target)

    # -- for doors that drive instances step by step (the rules checker) -------------------

    def workflow_definitions(self) -> list[WorkflowDefinition]:
        """The registered workflows, by name: each one's name, class, binding, limits and
        compatibility. Copies: changing them changes nothing here (to host a workflow again, pass
        these to :meth:`add_workflow` of another emulator)."""
        return [replace(definition) for _, definition in sorted(self._engine.workflows.items())]

    async def settle(self) -> None:
        """Let every instance run as far as it can without a timer firing, then return.

        Virtual time does not jump; while step callbacks are busy with real I/O it flows at the
        real rate, as in :meth:`run_until_idle`. With :meth:`advance_to_next_timer` this lets a
        driver act between timers (send an event once an instance waits for it, say); most
        code wants :meth:`run_until_idle` or :meth:`advance`.
        """
        self._refuse_if_inspecting("settle")
        await self._ready_engine()
        async with self._scheduler.driving():
            await self._scheduler.settle()

    async def advance_to_next_timer(self) -> bool:
        """Settle, then move virtual time to the earliest pending deadline (a sleep's end, a
        retry, a step or event-wait timeout), run what falls due and settle again.

        Returns False, with time unchanged, when no timer is pending (every instance is finished,
        paused or waiting for an event with no timeout left). Needs the virtual clock.
        """
        self._refuse_if_inspecting("advance_to_next_timer")
        if not isinstance(self.clock, VirtualClock):
            raise RuntimeError('advance_to_next_timer() needs the virtual clock: Emulator(clock="virtual")')
        await self._ready_engine()
        scheduler = self._scheduler
        async with scheduler.driving():
            await scheduler.settle()
            if not scheduler.jump_to_next():
                return False
            await scheduler.settle()
            return True

    # -- driving until a condition holds (doors/introspect) ----------------------------------

    async def drive_until(self, predicate: Callable[[], T | None], timeout: float | None = None) -> T:
        """Run the emulator until ``predicate()`` returns a truthy value, and return that value.

        It drives like :meth:`run_until_idle`: let everything runnable run, check
        ``predicate()``, and with the virtual clock jump to the next deadline while nothing else
        can run; with the real clock wait for the next timer or change of an instance. An
        exception ``predicate`` raises goes to the caller (a way to give up early). Raises
        :class:`~cfwf_emulator.StalledError` as soon as the predicate is false and nothing can
        progress any more (no step running, nothing ready, no timer left), and ``TimeoutError``
        after ``timeout`` real seconds (measured on the event loop's monotonic clock; None: no
        limit), also while a step callback waits for real I/O. Any number of tasks may drive at
        once; they take turns running the emulator.
        """
        self._refuse_if_inspecting("drive_until")
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout < 0
        ):
            raise ValueError(
                f"timeout is a number of real seconds >= 0, or None to wait as long as it takes; "
                f"got {timeout!r}"
            )
        async with asyncio.timeout(timeout):
            await self._ready_engine()
            scheduler = self._scheduler
            with self._engine.watch() as changed:
                while True:
                    changed.clear()  # before running: a change made meanwhile ends the wait below
                    async with scheduler.driving():
                        value = await self._run_down(predicate)
                    if value:
                        return value
                    deadline = scheduler.next_deadline(weak=not self.clock.virtual)  # crons fire in real time
                    if self.clock.virtual or deadline is None:
                        raise StalledError(
                            "drive_until: the condition is not met and nothing can progress any "
                            "more (no step is running and no timer is left); send the event an "
                            "instance waits for, resume it, or change the condition"
                        )
                    # real clock: wait for the next timer, or a change, outside the driver lock
                    wait_s = max(0.001, (deadline - self.clock.now_ms()) / 1000.0)
                    try:
                        await asyncio.wait_for(changed.wait(), wait_s)
                    except TimeoutError:
                        pass

    def _refuse_if_inspecting(self, what: str) -> None:
        if self._inspected is not None:
            raise StateReadOnlyError.inspecting(self._inspected, what)

    async def _run_down(self, predicate: Callable[[], T | None], limit: float | None = None) -> T | None:
        """The drive loop (hold the driver lock): settle, check ``predicate``, jump to the next
        deadline (not past ``limit``) with the virtual clock; until ``predicate()`` is truthy or
        nothing is left to run without waiting. Returns the last ``predicate()`` value."""
        scheduler = self._scheduler
        while True:
            await scheduler.settle(limit)
            value = predicate()
            if value or not (self.clock.virtual and scheduler.jump_to_next(limit)):
                return value


def _epoch_ms(at: object) -> float:
    """``at`` (a ``datetime``, naive meaning UTC, or epoch ms) in epoch ms; ``ConfigError`` otherwise."""
    if isinstance(at, datetime):
        return (at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)).timestamp() * 1000
    if isinstance(at, (int, float)) and not isinstance(at, bool) and math.isfinite(at):
        return float(at)
    raise ConfigError(f"at must be a datetime or epoch milliseconds, got {at!r}")


def _never() -> bool:
    """The condition of a drive that runs until idle."""
    return False
