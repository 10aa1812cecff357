"""Test modifications (``emu.api.testing``): kept with an instance, or pending for one not created
yet; mocked events. What they change at each step is :mod:`.modifiers`."""

from __future__ import annotations

from typing import Any, Callable

from ..limits import Limits
from ..store import Store
from ..validation import check_mocked_event
from .instance import LiveInstance
from .instances import Instances, Key
from .mailbox import Mailbox
from .registry import Registry

__all__ = ["Modifications"]


class Modifications:
    """Test modifications and mocked events, by instance."""

    def __init__(
        self,
        registry: Registry,
        instances: Instances,
        store: Store,
        mailbox: Mailbox,
        now: Callable[[], float],
        delete_instance: Callable[[str, str], None],
    ) -> None:
        self.registry = registry
        self.instances = instances
        self.store = store
        self.mailbox = mailbox
        self.now = now
        self.delete_instance = delete_instance
        #: Test modifications and mocked events for instances not created yet, by (workflow, id).
        self.pending: dict[Key, dict[str, Any]] = {}
        #: ``introspect_workflow`` sessions: called with (workflow, id) before a new instance starts.
        self.captures: dict[str, Callable[[str, str], None]] = {}

    def modifiable(self, workflow: str, instance_id: str) -> tuple[dict[str, Any], LiveInstance | None]:
        """Where the instance's modifications and buffered events live (the instance, if it
        exists, else its pending entry), and the instance."""
        self.registry.definition(workflow)
        if self.instances.exists(workflow, instance_id):
            live = self.instances.load(workflow, instance_id)
            return {"modifiers": live.record.modifiers, "events": live.record.events}, live
        entry = self.pending.setdefault((workflow, instance_id), {"modifiers": {}, "events": []})
        return entry, None

    def modifiers_for(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """The instance's test modifications (kept for later if it does not exist yet)."""
        modifiers: dict[str, Any] = self.modifiable(workflow, instance_id)[0]["modifiers"]
        return modifiers

    def save_modifiers(self, workflow: str, instance_id: str) -> None:
        """Persist the modifications of an existing instance after a change."""
        if self.instances.exists(workflow, instance_id):
            self.store.save_header(self.instances.load(workflow, instance_id).record)

    def mock_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any) -> None:
        """Buffer a mocked event: it survives restarts and satisfies the first wait of its type."""
        definition = self.registry.workflows.get(workflow)  # an unknown one: ConfigError below
        limits = definition.limits if definition is not None else Limits()
        payload_json = check_mocked_event(event_type, payload, limits.event_type_length)
        entry, live = self.modifiable(workflow, instance_id)
        event = {"type": event_type, "payload": payload_json, "ms": self.now(), "mocked": True}
        entry["modifiers"].setdefault("events", []).append(dict(event))
        entry["events"].append(event)
        if live is not None:
            self.store.save_header(live.record)
            self.mailbox.deliver(live, event_type)

    def dispose(self, workflow: str, instance_id: str) -> None:
        """Forget the instance and its modifications entirely (its id becomes free)."""
        self.pending.pop((workflow, instance_id), None)
        if workflow in self.registry.workflows and self.instances.exists(workflow, instance_id):
            self.delete_instance(workflow, instance_id)
