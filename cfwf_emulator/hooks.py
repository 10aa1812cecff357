"""Engine events as pluggy hookspecs, so observers never need the engine's internals.

Register any object with matching methods through ``emu.register(observer)`` (or
``emu.hooks.register(observer)``, the same plugin manager); each method receives keyword arguments
named as in the specs below (a subset is fine, as pluggy allows)::

    class PrintStatus:
        @cfwf_emulator.hooks.hookimpl
        def cfwf_instance_status_changed(self, instance_id, old, new, at):
            print(instance_id, old, "->", new)

Times (``at``) are the emulator clock's epoch milliseconds.

Observers watch; they cannot change an instance. An observer that raises is reported as an
:class:`ObserverWarning` naming the hook and the observer, and the engine goes on (other observers
still hear the event). A hook that reports a state (a status, an attempt, a step's end, a sleep or
an event wait) fires only once that state is committed to the store, so an observer never sees a
state that a crash could still undo. Events reach observers in the order they happened.

While a ``step.do`` callback runs, :data:`current_step` tells the code it calls (a binding, a
helper shared with code outside steps) which step it runs in; it is None everywhere else.
"""

from __future__ import annotations

import asyncio
import warnings
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable

import pluggy

__all__ = [
    "PROJECT",
    "Announcer",
    "EngineHookSpecs",
    "ObserverWarning",
    "StepContext",
    "current_step",
    "hookimpl",
    "hookspec",
    "make_plugin_manager",
]

PROJECT = "cfwf"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class EngineHookSpecs:
    """The events the engine announces."""

    @hookspec
    def cfwf_instance_status_changed(
        self, workflow: str, instance_id: str, old: str | None, new: str, at: float
    ) -> None:
        """An instance's status changed (``old`` is None when it was just created)."""

    @hookspec
    def cfwf_step_start(
        self, workflow: str, instance_id: str, name: str, count: int, config: dict[str, Any], at: float
    ) -> None:
        """A ``step.do`` began its first attempt (replayed steps announce nothing)."""

    @hookspec
    def cfwf_step_attempt(
        self,
        workflow: str,
        instance_id: str,
        name: str,
        count: int,
        attempt: int,
        success: bool,
        error: dict[str, Any] | None,
        retry_delay_ms: float | None,
        at: float,
    ) -> None:
        """An attempt ended; ``retry_delay_ms`` is set when another attempt will follow."""

    @hookspec
    def cfwf_step_end(
        self,
        workflow: str,
        instance_id: str,
        name: str,
        count: int,
        success: bool,
        output: Any,
        error: dict[str, Any] | None,
        at: float,
    ) -> None:
        """A ``step.do`` finished for good, with its output or its final error."""

    @hookspec
    def cfwf_sleep_start(
        self, workflow: str, instance_id: str, name: str, count: int, until: float, at: float
    ) -> None:
        """A sleep began; ``until`` is its deadline."""

    @hookspec
    def cfwf_sleep_end(self, workflow: str, instance_id: str, name: str, count: int, at: float) -> None:
        """A sleep finished."""

    @hookspec
    def cfwf_event_wait_start(
        self, workflow: str, instance_id: str, name: str, count: int, event_type: str, until: float, at: float
    ) -> None:
        """A ``wait_for_event`` began; ``until`` is its timeout deadline."""

    @hookspec
    def cfwf_event_wait_end(
        self,
        workflow: str,
        instance_id: str,
        name: str,
        count: int,
        event_type: str,
        timed_out: bool,
        at: float,
    ) -> None:
        """A ``wait_for_event`` received its event or timed out."""


class _ObserverManager(pluggy.PluginManager):
    """A pluggy manager that tells its announcers when observers come or go (so they can
    remember, between changes, which hooks anyone listens to)."""

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        self.on_change: list[Callable[[], None]] = []

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` (pluggy's ``register``)."""
        try:
            return super().register(plugin, name)
        finally:
            self._changed()

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        """Unregister ``plugin`` (pluggy's ``unregister``)."""
        try:
            return super().unregister(plugin, name)
        finally:
            self._changed()


def make_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager carrying the engine hookspecs."""
    manager = _ObserverManager(PROJECT)
    manager.add_hookspecs(EngineHookSpecs)
    return manager


class ObserverWarning(UserWarning):
    """An observer's hook raised; the error was reported and the engine went on unaffected."""


class Announcer:
    """The one place that calls observers.

    Each observer is called on its own, so one that raises is reported (``ObserverWarning``) and
    neither the others nor the instance notice. Announcements fire in the order they are made,
    each once the write it reports is committed: ``committed`` is the store's pending commit (a
    future) when the write was deferred, None when it is already durable (or nothing is written).
    A write whose commit failed is never announced.
    """

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager
        self._queue: deque[tuple["asyncio.Future[None] | None", str, dict[str, Any]]] = deque()
        self._waiting_on: "asyncio.Future[None] | None" = None
        self._wanted: dict[str, bool] = {}
        # a manager made by make_plugin_manager says when observers change; any other is asked each time
        self._remembers = isinstance(manager, _ObserverManager)
        if isinstance(manager, _ObserverManager):
            manager.on_change.append(self._wanted.clear)

    def wants(self, hook: str) -> bool:
        """Whether any observer implements ``hook`` (so building its arguments is worth it).

        Remembered until an observer is registered or unregistered (on every step, this is hot).
        """
        wanted = self._wanted.get(hook)
        if wanted is None:
            caller: pluggy.HookCaller = getattr(self.manager.hook, hook)
            wanted = bool(caller.get_hookimpls())
            if self._remembers:
                self._wanted[hook] = wanted
        return wanted

    def announce(self, hook: str, committed: "asyncio.Future[None] | None" = None, **kwargs: Any) -> None:
        """Call ``hook``'s observers with ``kwargs`` once ``committed`` (if any) has succeeded."""
        if not self.wants(hook):
            return
        self._queue.append((committed, hook, kwargs))
        self._drain()

    def _drain(self, _done: "asyncio.Future[None] | None" = None) -> None:
        if _done is not None and _done is self._waiting_on:
            self._waiting_on = None
        queue = self._queue
        while queue:
            committed, hook, kwargs = queue[0]
            if committed is not None and not committed.done():
                if self._waiting_on is not committed:
                    self._waiting_on = committed
                    committed.add_done_callback(self._drain)
                return
            queue.popleft()
            if committed is None or (not committed.cancelled() and committed.exception() is None):
                self._call(hook, kwargs)

    def _call(self, hook: str, kwargs: dict[str, Any]) -> None:
        caller: pluggy.HookCaller = getattr(self.manager.hook, hook)
        impls = caller.get_hookimpls()
        for impl in reversed(impls):  # pluggy's calling order: last registered first
            try:
                if impl.hookwrapper or impl.wrapper:
                    others = [other.plugin for other in impls if other.plugin is not impl.plugin]
                    self.manager.subset_hook_caller(hook, others)(**kwargs)
                else:
                    impl.function(*[kwargs[name] for name in impl.argnames])
            except (KeyboardInterrupt, SystemExit):
                raise  # Ctrl-C or an exit request stops the process, from an observer too
            except BaseException as exc:  # noqa: BLE001 - an observer never breaks the engine
                warnings.warn(
                    f"Observer {impl.plugin_name!r} ({type(impl.plugin).__name__}) raised "
                    f"{type(exc).__name__} in {hook}: {exc}. The error was ignored: observers "
                    "cannot change an instance; fix or unregister the observer.",
                    ObserverWarning,
                    stacklevel=2,
                )


# -- the step being executed ---------------------------------------------------------------------


@dataclass(slots=True)
class StepContext:
    """The ``step.do`` whose callback is running: its instance, its name and call count, and the
    attempt (1 for the first). A fresh one per attempt: changing it changes nothing."""

    workflow: str
    instance_id: str
    name: str
    count: int
    attempt: int


#: The step whose callback runs in this context, or None. The engine sets it while a ``step.do``
#: callback (or that step's retry delay function) runs; tasks the callback starts copy it, as
#: contexts go. It is None in ``run`` outside steps, in observers, and in instances started from
#: inside a step. Read it with ``current_step.get()``; only the engine sets it.
current_step: ContextVar[StepContext | None] = ContextVar("cfwf_current_step", default=None)
