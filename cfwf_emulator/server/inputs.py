"""Validation of the API's inputs, with the contract's messages (``"<path>: <reason>"``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from starlette.datastructures import QueryParams

from .envelope import DATE_RANGE, INVALID, NOT_FOUND, ApiError

__all__ = ["ListQuery", "STATUSES", "check_create", "check_lookup_id", "check_status_change", "list_query"]

STATUSES = ("queued", "running", "paused", "errored", "terminated", "complete", "waitingForPause", "waiting")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z")
#: Ids a lookup may name: user ids and system-generated ones (the batch-delete rule).
_LOOKUP_ID = re.compile(r"[a-zA-Z0-9, */#_-]{1,271}")
#: Ids a create may give (Cloudflare's rule).
_CREATE_ID = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9_-]{0,99}")


def _invalid(message: str) -> ApiError:
    return ApiError(400, INVALID, message)


@dataclass(frozen=True)
class ListQuery:
    """The instance list's query: paging, status filter and inclusive creation-date bounds."""

    page: int
    per_page: int
    status: str | None
    date_start: datetime | None
    date_end: datetime | None


def _number(query: QueryParams, name: str, default: int, most: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip()) if raw.strip() else 0.0
    except ValueError:
        raise _invalid(f'{name}: Expected query param to be number but received "{raw}"') from None
    if value != value:  # NaN
        raise _invalid(f'{name}: Expected query param to be number but received "{raw}"')
    if value < 1:
        raise _invalid(f"{name}: Too small: expected number to be >=1")
    if most is not None and value > most:
        raise _invalid(f"{name}: Too big: expected number to be <={most}")
    if not value.is_integer():
        raise _invalid(f"{name}: Invalid input: expected int, received number")
    return int(value)


def _date(query: QueryParams, name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not _ISO.fullmatch(raw):
        raise _invalid(f"{name}: Invalid ISO datetime")
    try:
        return datetime.fromisoformat(raw[:-1]).replace(tzinfo=timezone.utc)
    except ValueError:
        raise _invalid(f"{name}: Invalid ISO datetime") from None


def list_query(query: QueryParams) -> ListQuery:
    """The validated query of ``GET .../instances``."""
    page = _number(query, "page", 1, None)
    per_page = _number(query, "per_page", 25, 100)
    status = query.get("status")
    if status is not None and status not in STATUSES:
        expected = "|".join(f'"{name}"' for name in STATUSES)
        raise _invalid(f"status: Invalid option: expected one of {expected}")
    start, end = _date(query, "date_start"), _date(query, "date_end")
    if start is not None and end is not None and start > end:
        raise ApiError(
            400,
            DATE_RANGE,
            "'date_start' must not be after 'date_end'. Update 'date_start' or 'date_end' so "
            "'date_start' is before or equal to 'date_end'.",
        )
    return ListQuery(page, per_page, status, start, end)


def check_lookup_id(workflow: str, instance_id: str) -> None:
    """A ``404`` for an id no instance can have, before anything is looked up."""
    if not _LOOKUP_ID.fullmatch(instance_id):
        raise ApiError(404, NOT_FOUND, f"Workflow instance '{instance_id}' not found.")


def check_create(body: Any) -> tuple[str | None, Any]:
    """``(id, params)`` of a create body (``None`` when there was none)."""
    if body is None:
        return None, None
    if not isinstance(body, dict):
        raise _invalid('Invalid input: expected an object {"id"?: string, "params"?: any JSON}')
    instance_id = body.get("id")
    if instance_id is not None and not (isinstance(instance_id, str) and _CREATE_ID.fullmatch(instance_id)):
        raise _invalid("WorkflowError: Workflow instance has invalid id")
    return instance_id, body.get("params")


def _check_from(step: Any) -> dict[str, Any]:
    if not isinstance(step, dict) or not isinstance(step.get("name"), str):
        raise _invalid("Invalid input")
    if not step["name"]:
        raise _invalid("from.name: Too small: expected string to have >=1 characters")
    if len(step["name"]) > 256:
        raise _invalid("from.name: Too big: expected string to have <=256 characters")
    count = step.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise _invalid("Invalid input")
    if step.get("type") is not None and step["type"] not in ("do", "sleep", "waitForEvent"):
        raise _invalid("Invalid input")
    return {key: step[key] for key in ("name", "count", "type") if step.get(key) is not None}


def check_status_change(body: Any) -> tuple[str, bool, dict[str, Any] | None]:
    """``(action, rollback, from_step)`` of a status-change body."""
    if not isinstance(body, dict) or body.get("status") not in ("pause", "resume", "terminate", "restart"):
        raise _invalid("Invalid input")
    action = body["status"]
    rollback = body.get("rollback")
    if rollback is not None and action != "terminate":
        raise _invalid("'rollback' is only valid when terminating.")
    if rollback is not None and not isinstance(rollback, bool):
        raise _invalid("Invalid input")
    step = _check_from(body["from"]) if action == "restart" and "from" in body else None
    return action, bool(rollback), step
