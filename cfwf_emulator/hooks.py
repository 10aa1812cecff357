"""Engine events as pluggy hookspecs, so observers never need the engine's internals.

Register any object with matching methods through ``emu.register(observer)``; each method
receives keyword arguments named as in the specs below (a subset is fine, as pluggy allows)::

    class PrintStatus:
        @cfwf_emulator.hooks.hookimpl
        def cfwf_instance_status_changed(self, instance_id, old, new, at):
            print(instance_id, old, "->", new)

Times (``at``) are the emulator clock's epoch milliseconds.
"""

from __future__ import annotations

from typing import Any

import pluggy

__all__ = ["PROJECT", "hookimpl", "hookspec", "EngineHookSpecs", "make_plugin_manager"]

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


def make_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager carrying the engine hookspecs."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(EngineHookSpecs)
    return manager
