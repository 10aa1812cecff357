"""``Workflow`` bindings (``env.MY_WORKFLOW``) and ``WorkflowInstance`` handles.

They accept the call shapes of Cloudflare's Python SDK: ``create(id=..., params=...)`` or
``create({"id": ..., "params": ...})``, ``create_batch([...])``, ``send_event(type=..., payload=...)``
or ``send_event({"type": ..., "payload": ...})``; the JavaScript names (``createBatch``,
``sendEvent``) work too. Every method is a thin call into the engine's public API
(:class:`cfwf_emulator.api.LocalAPI`, ``emu.api``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .validation import check_location_hint, instance_not_found

if TYPE_CHECKING:
    from .api import BatchDeleteResult, LocalAPI
    from .engine.instance import WorkflowDefinition
    from .views import InstanceDetails, StatusDetails

__all__ = ["Workflow", "WorkflowInstance"]


class BindingHost(Protocol):
    """What a binding needs of its emulator (an :class:`~cfwf_emulator.Emulator`): the engine's
    public API. (A protocol, so this module and the emulator's never import each other.)"""

    @property
    def api(self) -> "LocalAPI":
        """``emu.api``."""

    def workflow_definitions(self) -> list["WorkflowDefinition"]:
        """The registered workflows (a binding names its own binding in error messages)."""


_MISSING: Any = object()


def _options(options: Any, kwargs: dict[str, Any], allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    if options is not None and kwargs:
        raise TypeError(f"{what}: pass either one dict or keyword arguments, not both")
    merged = dict(kwargs) if options is None else options
    if not isinstance(merged, dict):
        raise TypeError(f"{what}: expected a dict of options, got {merged!r}")
    unknown = set(merged) - set(allowed)
    if unknown:
        raise TypeError(
            f"{what}: unknown option(s) {', '.join(sorted(map(str, unknown)))}; "
            f"allowed: {', '.join(allowed)}"
        )
    return merged


class Workflow:
    """The binding of one workflow: create instances and get handles to them."""

    def __init__(self, emulator: BindingHost, name: str) -> None:
        self._emulator = emulator
        self.name = name

    def __repr__(self) -> str:
        return f"<Workflow {self.name!r}>"

    @property
    def emulator(self) -> BindingHost:
        """The emulator hosting this workflow (tools reach its ``api`` and definitions through it)."""
        return self._emulator

    async def create(self, options: Any = None, **kwargs: Any) -> "WorkflowInstance":
        """Create and queue an instance: ``create(id=None, params=None)`` or ``create({...})``.

        Raises ``WorkflowError`` with code ``instance.invalid_id`` or ``instance.already_exists``.
        """
        opts = _options(options, kwargs, ("id", "params", "retention", "locationHint"), "create")
        check_location_hint(opts.get("locationHint"))
        instance_id = await self._emulator.api.create(self.name, opts.get("id"), opts.get("params"))
        return WorkflowInstance(self._emulator, self.name, instance_id)

    async def create_batch(self, batch: Any) -> list["WorkflowInstance"]:
        """Create up to 100 instances; ids already in use are skipped and left out of the result."""
        if not isinstance(batch, (list, tuple)):
            raise TypeError(f"create_batch takes a list of option dicts, got {batch!r}")
        ids = await self._emulator.api.create_batch(self.name, list(batch))
        return [WorkflowInstance(self._emulator, self.name, instance_id) for instance_id in ids]

    createBatch = create_batch

    async def delete_batch(self, instance_ids: Any) -> "BatchDeleteResult":
        """Delete 1-100 instances by id: ``{"deleted": [{"id"}], "errors": [{"id", "code", "message"}]}``
        in input order (a repeated id is deleted once, reported at each position; a missing one is
        an error with code 10400). Running instances stop without rollbacks. Not a list, empty,
        over 100 ids or any invalid id raises ``WorkflowError`` before anything is deleted."""
        if isinstance(instance_ids, tuple):  # Pyodide passes a tuple to JavaScript as an array
            instance_ids = list(instance_ids)
        return await self._emulator.api.delete_batch(self.name, instance_ids)

    deleteBatch = delete_batch

    def __getattr__(self, name: str) -> Any:
        if name in ("send_event", "sendEvent"):
            binding = next(
                (d.binding for d in self._emulator.workflow_definitions() if d.name == self.name), "MY_WORKFLOW"
            )
            raise AttributeError(
                f"a Workflow binding has no {name}: events go to one instance, so call it on the "
                f"instance: instance = await env.{binding}.get(id); "
                f"await instance.{name}(...) (Cloudflare's binding has only create, create_batch, "
                "get and delete_batch; one docs page shows send_event on the binding, which fails there too)",
                name=name,
                obj=self,
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self)

    async def get(self, instance_id: str) -> "WorkflowInstance":
        """A handle to an existing instance; ``WorkflowError(instance.not_found)`` otherwise."""
        if not isinstance(instance_id, str) or not await self._emulator.api.exists(self.name, instance_id):
            raise instance_not_found(self.name, instance_id)
        return WorkflowInstance(self._emulator, self.name, instance_id)


class WorkflowInstance:
    """A handle to one instance; every call reads or changes the engine's state for it."""

    def __init__(self, emulator: BindingHost, workflow: str, instance_id: str) -> None:
        self._emulator = emulator
        self.workflow = workflow
        self.id = instance_id

    def __repr__(self) -> str:
        return f"<WorkflowInstance {self.workflow}/{self.id}>"

    async def status(self) -> "StatusDetails":
        """``{"status", "output"}``, plus ``"error": {"name", "message"}`` when errored."""
        return await self._emulator.api.status(self.workflow, self.id)

    async def describe(self) -> "InstanceDetails":
        """The instance's details exactly as Cloudflare's Local Explorer API shows them, with every
        step and its attempts, plus what the emulator adds under ``"cfwf"``."""
        return await self._emulator.api.describe(self.workflow, self.id)

    async def pause(self) -> None:
        """Pause; a step attempt in flight finishes first (status ``waitingForPause``)."""
        await self._emulator.api.pause(self.workflow, self.id)

    async def resume(self) -> None:
        """Resume a paused instance (no effect in other states)."""
        await self._emulator.api.resume(self.workflow, self.id)

    async def terminate(self, options: Any = None) -> None:
        """Terminate; ``WorkflowError(instance.cannot_terminate)`` when already finished.

        ``terminate({"rollback": True})`` first runs the rollback handlers the instance
        registered; Python workflows cannot register any (the SDK has no rollback API), so it
        terminates exactly as ``terminate()`` does, as on Cloudflare.
        """
        if options is not None:
            rollback = _options(options, {}, ("rollback",), "terminate").get("rollback", False)
            if not isinstance(rollback, bool):
                raise TypeError(f'terminate: "rollback" must be True or False, got {rollback!r}')
        await self._emulator.api.terminate(self.workflow, self.id)

    async def restart(self, options: Any = None) -> None:
        """Restart from the beginning, or ``restart({"from": {"name", "count", "type"}})``."""
        from_step = None
        if options is not None:
            from_step = _options(options, {}, ("from",), "restart").get("from")
        await self._emulator.api.restart(self.workflow, self.id, from_step)

    async def send_event(self, event: Any = None, **kwargs: Any) -> None:
        """Deliver an event: ``send_event(type=..., payload=...)`` or ``send_event({...})``."""
        opts = _options(event, kwargs, ("type", "payload"), "send_event")
        if "type" not in opts:
            raise TypeError('send_event needs a "type"')
        await self._emulator.api.send_event(self.workflow, self.id, opts["type"], opts.get("payload"))

    sendEvent = send_event

    async def delete(self) -> None:
        """Stop the instance and delete its state; the id can be used again."""
        await self._emulator.api.delete(self.workflow, self.id)
