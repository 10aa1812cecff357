"""Creating instances: ids, params, batches; written in one atomic store write, then started."""

from __future__ import annotations

import uuid
from typing import Any, Callable, Iterable

from ..errors import WorkflowError
from ..hooks import Announcer
from ..store import Store
from ..validation import check_batch_size, check_instance_id, check_location_hint, encode_input
from .instance import LiveInstance, WorkflowDefinition
from .instances import Instances
from .modifications import Modifications
from .records import InstanceRecord
from .registry import Registry

__all__ = ["Creation"]


class Creation:
    """Creates instances of registered workflows."""

    def __init__(
        self,
        registry: Registry,
        instances: Instances,
        modifications: Modifications,
        store: Store,
        announcer: Announcer,
        now: Callable[[], float],
    ) -> None:
        self.registry = registry
        self.instances = instances
        self.modifications = modifications
        self.store = store
        self.announcer = announcer
        self.now = now

    @staticmethod
    def _encode_params(params: Any) -> str:
        return encode_input({} if params is None else params, "instance.invalid_params", "Instance params")

    def create(self, workflow: str, instance_id: str | None, params: Any) -> str:
        """Create and queue an instance; return its id."""
        definition = self.registry.definition(workflow)
        if instance_id is None:
            instance_id = str(uuid.uuid4())
        else:
            instance_id = check_instance_id(instance_id, definition.limits.instance_id_length)
        params_json = self._encode_params(params)
        if self.instances.exists(workflow, instance_id):
            raise WorkflowError(
                "instance.already_exists",
                f'Instance already exists: "{instance_id}" in workflow "{workflow}"; restart it, '
                "or create with another id",
            )
        self._insert(definition, [(instance_id, params_json)])
        return instance_id

    def _insert(
        self, definition: WorkflowDefinition, items: list[tuple[str, str]], schedule: dict[str, Any] | None = None
    ) -> None:
        """Persist new instances in one atomic write, then start them."""
        self.instances.require_loop()  # refuse before anything is written
        now = self.now()
        records = [
            InstanceRecord(definition.name, instance_id, params_json, now, queued_ms=now, schedule=schedule)
            for instance_id, params_json in items
        ]
        capture = self.modifications.captures.get(definition.name)
        if capture is not None:  # introspect_workflow: its modifications join ``pending`` now
            for record in records:
                capture(definition.name, record.id)
        pending = {
            record.id: self.modifications.pending.pop((definition.name, record.id), None) for record in records
        }
        for record in records:
            entry = pending[record.id]
            if entry is not None:
                record.modifiers = entry["modifiers"]
                record.events.replace(entry["events"])
        try:
            self.store.insert_instances(records)
        except BaseException:
            for instance_id, entry in pending.items():
                if entry is not None:  # nothing was created: keep the modifications for later
                    self.modifications.pending[(definition.name, instance_id)] = entry
            raise
        for record in records:
            live = LiveInstance(record, definition)
            self.instances.live[(definition.name, record.id)] = live
            if self.announcer.wants("cfwf_instance_status_changed"):
                self.announcer.announce(
                    "cfwf_instance_status_changed", workflow=definition.name, instance_id=record.id,
                    old=None, new="queued", at=now,
                )
            self.instances.start(live)

    def create_batch(self, workflow: str, items: Iterable[Any]) -> list[str]:
        """Create up to 100 instances; ids already in use are skipped and left out of the result."""
        definition = self.registry.definition(workflow)
        batch = list(items)
        limits = definition.limits
        check_batch_size(len(batch), limits.batch_size)
        prepared: list[tuple[str, str]] = []
        for item in batch:
            if item is None:
                item = {}
            if not isinstance(item, dict):
                raise WorkflowError(
                    "body", f'each createBatch item must be a dict with "id" and/or "params", got {item!r}'
                )
            unknown = set(item) - {"id", "params", "retention", "locationHint"}
            if unknown:
                raise WorkflowError("body", f"unknown createBatch option(s): {', '.join(sorted(map(str, unknown)))}")
            check_location_hint(item.get("locationHint"))
            raw_id = item.get("id")
            instance_id = str(uuid.uuid4()) if raw_id is None else check_instance_id(raw_id, limits.instance_id_length)
            prepared.append((instance_id, self._encode_params(item.get("params"))))
        fresh: dict[str, str] = {}
        for instance_id, params_json in prepared:
            if instance_id not in fresh and not self.instances.exists(workflow, instance_id):
                fresh[instance_id] = params_json
        if fresh:
            self._insert(definition, list(fresh.items()))
        return list(fresh)

    def create_scheduled(self, workflow: str, cron: str, scheduled_ms: int) -> str | None:
        """Create the instance a workflow's cron schedule makes at ``scheduled_ms``: id
        ``<cron>-<scheduledTime>``, no params, ``event["schedule"]`` set. None when that id exists
        (the same firing already made it)."""
        definition = self.registry.definition(workflow)
        instance_id = f"{cron}-{scheduled_ms}"
        if self.instances.exists(workflow, instance_id):
            return None
        schedule = {"cron": cron, "scheduledTime": scheduled_ms}
        self._insert(definition, [(instance_id, self._encode_params(None))], schedule)
        return instance_id
