"""The ``event`` argument of ``run``: a dict with camelCase keys and attribute access."""

from __future__ import annotations

from typing import Any

from ..serialization import AttrDict, decode, utc_from_ms

__all__ = ["make_event", "make_step_event"]


def make_event(
    params_json: str,
    created_ms: float,
    instance_id: str,
    workflow_name: str,
    schedule: "dict[str, Any] | None" = None,
) -> AttrDict:
    """A fresh event for one run: ``payload``, ``timestamp`` (naive UTC), ``instanceId``, ``workflowName``,
    and ``schedule`` (``{"cron", "scheduledTime"}``) for an instance a workflow's cron schedule made.

    A new copy is built for every run, so mutating it persists nothing (as on Cloudflare).
    """
    event = AttrDict(
        payload=decode(params_json),
        timestamp=utc_from_ms(created_ms),
        instanceId=instance_id,
        workflowName=workflow_name,
    )
    if schedule is not None:
        event["schedule"] = AttrDict(schedule)
    return event


def make_step_event(event_type: str, payload_json: str, sent_ms: float) -> AttrDict:
    """What ``wait_for_event`` returns: ``payload``, ``timestamp`` (naive UTC, send time), ``type``."""
    return AttrDict(payload=decode(payload_json), timestamp=utc_from_ms(sent_ms), type=event_type)
