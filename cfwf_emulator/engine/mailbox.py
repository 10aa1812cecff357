"""Events sent to instances: buffered with the instance, handed to the oldest waiter of their type."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import WorkflowError
from ..store import Store
from ..validation import check_event_type, encode_input
from .hibernation import Hibernation
from .instance import LiveInstance
from .instances import Instances
from .records import TERMINAL

__all__ = ["Mailbox"]


class Mailbox:
    """Takes events for instances and wakes whoever waits for them."""

    def __init__(
        self, instances: Instances, hibernation: Hibernation, store: Store, now: Callable[[], float]
    ) -> None:
        self.instances = instances
        self.hibernation = hibernation
        self.store = store
        self.now = now

    def send_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any) -> None:
        """Buffer an event for the instance and wake the oldest waiter of that type."""
        live = self.instances.load(workflow, instance_id)
        check_event_type(event_type, max_length=live.workflow.limits.event_type_length)
        record = live.record
        if record.status in TERMINAL:
            raise WorkflowError(
                "instance.not_running",
                f'Cannot send event "{event_type}" to instance "{instance_id}": it is '
                f"{record.status} and will never wait for events again",
            )
        payload_json = encode_input(payload, "workflow.invalid_event_payload", "Event payload")
        limit = live.workflow.limits.event_payload_bytes
        if len(payload_json.encode()) > limit:
            raise WorkflowError(
                "workflow.invalid_event_payload",
                f"Event payload is {len(payload_json.encode())} bytes; the maximum is {limit} (1 MiB)",
            )
        record.events.append({"type": event_type, "payload": payload_json, "ms": self.now()})
        self.store.save_header(record)
        self.deliver(live, event_type)

    def deliver(self, live: LiveInstance, event_type: str) -> None:
        """Wake the oldest waiter of ``event_type``, or replay a hibernated instance."""
        for waiter in live.waiters.get(event_type, ()):
            if not waiter.done():
                waiter.set_result(None)
                return
        self.hibernation.wake_on_event(live)

    def take_buffered_event(self, live: LiveInstance, event_type: str) -> dict[str, Any] | None:
        """Remove and return the oldest buffered event of ``event_type`` (the caller persists)."""
        return live.record.events.take(event_type)
