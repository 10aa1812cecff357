"""One home for the rules on what callers and workflows pass, and the error texts that report them.

Workflow names, instance ids, event types, step names, location hints, batch sizes, params and
event payloads; and the ``instance.not_found`` error. The engine, the bindings, the testing API
and the config reader all check through these functions, so each rule and its wording exist
once. Lengths come from the emulator's :class:`~cfwf_emulator.Limits`; the defaults are
production's.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .cron import CronExpression, parse_cron
from .errors import ConfigError, WorkflowError, WorkflowFatalError, did_you_mean, quoted
from .limits import Limits
from .serialization import NotSerialisable, RpcTypeError, encode

__all__ = [
    "LOCATION_HINTS",
    "WORKFLOW_NAME_RULE",
    "check_batch_size",
    "check_crons",
    "check_delete_batch",
    "check_event_type",
    "check_instance_id",
    "check_location_hint",
    "check_mocked_event",
    "check_step_name",
    "check_workflow_name",
    "encode_input",
    "instance_not_found",
    "invalid_event_type",
    "is_workflow_name",
    "lone_surrogate",
]

_DEFAULTS = Limits()
#: Ids, workflow names and event types: letters, digits, ``_`` and ``-``, not starting with ``-``.
_IDENTIFIER = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9\-_]*\Z")
#: Ids that address existing instances (delete, deleteBatch), cron-made ``<cron>-<ms>`` ones included.
_ADDRESSABLE_ID = re.compile(r"[a-zA-Z0-9, */#_-]{1,271}")
_CONTROL = re.compile(r"[\x00-\x1f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
WORKFLOW_NAME_LENGTH = 64
WORKFLOW_NAME_RULE = (
    "Workflow names must be 1-64 characters long, start with a letter, number, or underscore, "
    "and may only contain letters, numbers, underscores, or hyphens."
)
"""Cloudflare's wording of the Workflow name rule (wrangler's config error text)."""
#: The ``locationHint`` values of workerd's ``WorkflowInstanceLocationHint`` (types/defines/workflows.d.ts).
LOCATION_HINTS = ("wnam", "enam", "sam", "weur", "eeur", "apac", "apac-ne", "apac-se", "oc", "afr", "me")


def is_workflow_name(name: object) -> bool:
    """Whether ``name`` follows Cloudflare's rule for workflow names."""
    return isinstance(name, str) and 1 <= len(name) <= WORKFLOW_NAME_LENGTH and _IDENTIFIER.match(name) is not None


def check_workflow_name(name: object) -> str:
    """Cloudflare's rule for workflow names, as a :class:`ConfigError`."""
    if not is_workflow_name(name):
        raise ConfigError(f"Invalid workflow name {name!r}: {WORKFLOW_NAME_RULE}")
    assert isinstance(name, str)
    return name


def check_instance_id(instance_id: object, max_length: int = _DEFAULTS.instance_id_length) -> str:
    """Production's id rule, as a ``WorkflowError(instance.invalid_id)``."""
    if not isinstance(instance_id, str) or len(instance_id) > max_length or not _IDENTIFIER.match(instance_id):
        raise WorkflowError(
            "instance.invalid_id",
            f"Instance has invalid id {instance_id!r}: ids are 1-{max_length} letters, digits, '_' or "
            "'-' and may not start with '-'",
        )
    return instance_id


def instance_not_found(workflow: str, instance_id: object) -> WorkflowError:
    """The ``instance.not_found`` error for ``instance_id`` (which may not even be a str)."""
    if not isinstance(instance_id, str):
        return WorkflowError(
            "instance.not_found",
            f"Instance not found: instance ids are str, got {type(instance_id).__name__} {instance_id!r}",
        )
    return WorkflowError(
        "instance.not_found", f"Instance not found: no instance {quoted(instance_id)} in workflow {quoted(workflow)}"
    )


def invalid_event_type(message: str) -> WorkflowError:
    """An event type a caller sent broke the rule: ``WorkflowError(workflow.invalid_event_type)``."""
    return WorkflowError("workflow.invalid_event_type", message)


def check_event_type(
    event_type: object,
    error: Callable[[str], Exception] = invalid_event_type,
    max_length: int = _DEFAULTS.event_type_length,
) -> str:
    """Production's rule for event types: at most ``max_length`` of ``[a-zA-Z0-9_-]``, not
    starting with ``-``; else ``error(message)`` is raised."""
    if not isinstance(event_type, str) or len(event_type) > max_length or not _IDENTIFIER.match(event_type):
        raise error(
            f"Event type {event_type!r} is invalid: use 1-{max_length} letters, digits, '_' or '-', "
            "not starting with '-' (no dots or spaces)"
        )
    return event_type


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds half of a UTF-16 surrogate pair (it cannot be encoded)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def check_step_name(name: object, max_length: int = _DEFAULTS.step_name_length) -> str:
    """Cloudflare's rule: a str of at most ``max_length`` UTF-16 units with no control characters."""
    if type(name) is str and name.isascii() and name.isprintable() and len(name) <= max_length:
        return name  # the common case, without a regex (printable ASCII: no control, no surrogate)
    if (
        not isinstance(name, str)
        or lone_surrogate(name)
        or (len(name) > max_length // 2 and _utf16_length(name) > max_length)
        or _CONTROL.search(name)
    ):
        raise WorkflowFatalError(
            f'Step name "{name}" exceeds max length ({max_length} chars) or invalid characters found'
        )
    return name


def check_location_hint(hint: object) -> None:
    """A ``locationHint`` Cloudflare accepts (None: none), else ``WorkflowError(instance.invalid_location_hint)``."""
    if hint is None or (isinstance(hint, str) and hint in LOCATION_HINTS):
        return
    close = did_you_mean(hint.lower(), LOCATION_HINTS) if isinstance(hint, str) else ""
    raise WorkflowError(
        "instance.invalid_location_hint",
        f"Instance has invalid locationHint {hint!r}{close}: use one of "
        f"{', '.join(repr(h) for h in LOCATION_HINTS)}, or leave it out",
    )


def check_batch_size(size: int, max_size: int = _DEFAULTS.batch_size) -> None:
    """A ``createBatch`` of ``size`` items is allowed, else ``WorkflowError("body")``."""
    if size == 0:
        raise WorkflowError("body", "createBatch should have at least 1 instance")
    if size > max_size:
        raise WorkflowError("body", f"createBatch only supports {max_size} instances at a time, got {size}")


def check_delete_batch(instance_ids: object, max_size: int = _DEFAULTS.batch_size) -> list[str]:
    """The ids of a ``deleteBatch``, checked whole (Cloudflare's rules): a list of 1 to
    ``max_size`` ids of 1-271 characters; else ``WorkflowError`` and nothing is deleted."""
    if not isinstance(instance_ids, list):
        raise WorkflowError(
            "body", f"Provided argument is invalid: deleteBatch takes a list of instance ids, got {instance_ids!r}"
        )
    if len(instance_ids) > max_size:
        raise WorkflowError(
            "body", f"batchDeleteInstances only supports {max_size} instances at a time (got {len(instance_ids)})"
        )
    if not instance_ids:
        raise WorkflowError("body", "batchDeleteInstances should have at least 1 instance")
    for instance_id in instance_ids:
        if not isinstance(instance_id, str) or not _ADDRESSABLE_ID.fullmatch(instance_id):
            raise WorkflowError(
                "instance.invalid_id",
                f"Instance ID is invalid: {instance_id!r} (ids are 1-271 letters, digits, spaces or "
                "',*/#_-'); nothing was deleted",
            )
    return instance_ids


def check_crons(crons: object, what: str) -> list[CronExpression]:
    """``crons`` (one cron string or a non-empty list of them, in Cloudflare's syntax) parsed;
    else a ``ConfigError`` naming ``what`` (``"Workflow 'x' schedules"``, ``"triggers.crons"``)."""
    items = [crons] if isinstance(crons, str) else crons
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigError(f"{what}: give a cron string or a non-empty list of them, got {crons!r}")
    try:
        return [parse_cron(text) for text in items]
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def check_mocked_event(event_type: object, payload: Any, event_type_length: int = _DEFAULTS.event_type_length) -> str:
    """The JSON of a mocked event's payload, once its type passes ``send_event``'s rule."""
    check_event_type(event_type, max_length=event_type_length)
    return encode_input(payload, "workflow.invalid_event_payload", "Event payload")


def encode_input(value: Any, code: str, subject: str) -> str:
    """The JSON text of params or an event payload a caller sends, else ``WorkflowError(code)``.

    ``subject`` names the value in the message (``"Instance params"``, ``"Event payload"``).
    """
    try:
        return encode(value)
    except RpcTypeError as exc:
        if "tuple" in str(exc):
            fix = "use a list instead of a tuple"
        elif str(exc).startswith("Awaitable"):
            fix = "await it and send the result"
        else:
            fix = "send binary data as text (base64, say)"
        raise WorkflowError(
            code, f"{subject} cannot be sent over RPC (Cloudflare's Python SDK: {exc}); {fix}"
        ) from None
    except NotSerialisable as exc:
        raise WorkflowError(code, f"{subject} cannot be stored: {exc}") from None
