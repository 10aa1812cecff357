"""The workflows part of Cloudflare's Local Explorer API, over the engine's public API (``emu.api``).

Every handler takes the request and the path's parameters and returns the envelope; an
:class:`~.envelope.ApiError` (or a ``WorkflowError`` from the engine, mapped by :func:`engine_error`)
becomes a failure envelope. The routes and answers follow ``shared/spec/local-explorer-api.md``.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from ..api import InstanceSummary
from ..emulator import Emulator
from ..errors import WorkflowError
from .envelope import INVALID, NOT_FOUND, ApiError, success
from .guard import parse_json, read_body
from .inputs import STATUSES, check_create, check_lookup_id, check_status_change, list_query
from .project_info import ProjectInfo

__all__ = ["Explorer", "engine_error"]

#: An offset no list reaches (SQLite's integers end at 2**63).
_MAX_OFFSET = 2**53

Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]

#: Engine refusals answered ``409``: the instance's state forbids the action (not a server fault).
_CONFLICTS = {"instance.cannot_restart", "instance.already_exists", "instance.cannot_terminate", "instance.not_running"}


def engine_error(exc: WorkflowError, instance_id: str | None) -> ApiError:
    """The API's answer to a ``WorkflowError`` raised by the engine."""
    if exc.code == "instance.not_found":
        return ApiError(404, NOT_FOUND, f"Workflow instance '{instance_id}' not found.")
    if exc.code == "instance.already_exists":
        return ApiError(
            409, INVALID, f'WorkflowError: (instance.already_exists) Workflow instance with id "{instance_id}" already exists'
        )
    if exc.code == "instance.invalid_id":
        return ApiError(400, INVALID, "WorkflowError: Workflow instance has invalid id")
    status = 409 if exc.code in _CONFLICTS else 400
    return ApiError(status, INVALID, f"WorkflowError: {exc}")


def _iso(moment: datetime) -> str:
    """``moment`` (naive UTC, or aware) as JavaScript's ``toISOString()`` writes it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _created(row: InstanceSummary) -> datetime:
    return datetime.fromisoformat(row["created"].replace("Z", "+00:00"))


class Explorer:
    """The API's routes, bound to one emulator and its project's description."""

    def __init__(self, emu: Emulator, info: ProjectInfo) -> None:
        self.emu = emu
        self.api = emu.api
        self.info = info
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/workflows"), self.list_workflows),
            ("GET", re.compile(r"/workflows/(?P<name>[^/]+)"), self.get_workflow),
            ("DELETE", re.compile(r"/workflows/(?P<name>[^/]+)"), self.delete_workflow),
            ("GET", re.compile(r"/workflows/(?P<name>[^/]+)/instances"), self.list_instances),
            ("POST", re.compile(r"/workflows/(?P<name>[^/]+)/instances"), self.create),
            ("POST", re.compile(r"/workflows/(?P<name>[^/]+)/instances/batch/delete"), self.batch_delete),
            ("GET", re.compile(r"/workflows/(?P<name>[^/]+)/instances/(?P<id>[^/]+)"), self.describe),
            ("DELETE", re.compile(r"/workflows/(?P<name>[^/]+)/instances/(?P<id>[^/]+)"), self.delete),
            ("PATCH", re.compile(r"/workflows/(?P<name>[^/]+)/instances/(?P<id>[^/]+)/status"), self.change_status),
            (
                "POST",
                re.compile(r"/workflows/(?P<name>[^/]+)/instances/(?P<id>[^/]+)/events/(?P<type>[^/]+)"),
                self.send_event,
            ),
            ("GET", re.compile(r"/local/workers"), self.local_workers),
        ]

    def route(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        """The handler for ``method`` on ``path`` (relative to the API root) and its parameters."""
        for route_method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match is not None and route_method == method:
                return handler, match.groupdict()
        return None

    def _workflow(self, params: dict[str, str]) -> str:
        name = params["name"]
        if name not in self.info.workflow_names:
            raise ApiError(404, NOT_FOUND, f"Workflow '{name}' not found.")
        return name

    def _instance(self, params: dict[str, str]) -> tuple[str, str]:
        name = self._workflow(params)
        check_lookup_id(name, params["id"])
        return name, params["id"]

    async def list_workflows(self, request: Request, params: dict[str, str]) -> Response:
        """``GET /workflows``: the configured workflows, in configuration order."""
        result = self.info.workflow_rows()
        return success(result, {"count": len(result)})

    async def get_workflow(self, request: Request, params: dict[str, str]) -> Response:
        """``GET /workflows/NAME``: the workflow and its instance counts (all eight statuses)."""
        name = self._workflow(params)
        counts = {status: 0 for status in STATUSES}
        for summary in await self.api.workflows():
            if summary["name"] == name:
                counts.update(summary["counts"])
        row = next(row for row in self.info.workflow_rows() if row["name"] == name)
        return success({**row, "instances": counts})

    async def delete_workflow(self, request: Request, params: dict[str, str]) -> Response:
        """``DELETE /workflows/NAME``: delete every instance (the workflow stays configured)."""
        name = self._workflow(params)
        while True:
            page = await self.api.list_instances(name, per_page=100)
            ids = [row["id"] for row in page["instances"]]
            if not ids:
                return success({"status": "ok", "success": True})
            result = await self.api.delete_batch(name, ids)
            if not result["deleted"]:  # nothing could be deleted: say why rather than loop
                raise ApiError(500, INVALID, f"WorkflowError: {result['errors'][0]['message']}")

    async def _matching(self, name: str, status: str | None, start: datetime | None, end: datetime | None) -> list[InstanceSummary]:
        """Every instance of ``name`` with ``status`` created in ``[start, end]``, newest first."""
        rows: list[InstanceSummary] = []
        page = 1
        while True:
            batch = await self.api.list_instances(name, status=status, page=page, per_page=1000)
            rows.extend(batch["instances"])
            if len(rows) >= batch["total"] or not batch["instances"]:
                break
            page += 1
        return [
            row for row in rows
            if (start is None or _created(row) >= start) and (end is None or _created(row) <= end)
        ]

    async def list_instances(self, request: Request, params: dict[str, str]) -> Response:
        """``GET /workflows/NAME/instances``: a page, newest first, with status and date filters."""
        name = self._workflow(params)
        query = list_query(request.query_params)
        if (query.page - 1) * query.per_page > _MAX_OFFSET:  # past any store's end (and its integers)
            page = await self.api.list_instances(name, status=query.status, per_page=1)
            rows, total, counts = [], page["total"], page["counts"]
        elif query.date_start is None and query.date_end is None:
            page = await self.api.list_instances(name, status=query.status, page=query.page, per_page=query.per_page)
            rows, total, counts = page["instances"], page["total"], page["counts"]
        else:
            matching = await self._matching(name, query.status, query.date_start, query.date_end)
            first = (query.page - 1) * query.per_page
            rows, total = matching[first : first + query.per_page], len(matching)
            counts = (await self.api.list_instances(name, per_page=1))["counts"]
        result = [{"id": row["id"], "status": row["status"], "created_on": row["created"]} for row in rows]
        info = {
            "page": query.page,
            "per_page": query.per_page,
            "total_count": total,
            "total_pages": max(1, -(-total // query.per_page)),
            "status_counts": {status: count for status, count in counts.items() if count},
        }
        return success(result, info)

    async def create(self, request: Request, params: dict[str, str]) -> Response:
        """``POST /workflows/NAME/instances``: create an instance (``{"id"?, "params"?}``)."""
        name = self._workflow(params)
        body = await read_body(request)
        instance_id, instance_params = check_create(parse_json(body) if body.strip() else None)
        try:
            created = await self.api.create(name, instance_id, {} if instance_params is None else instance_params)
        except WorkflowError as exc:
            raise engine_error(exc, instance_id) from None
        return success({"id": created})

    async def batch_delete(self, request: Request, params: dict[str, str]) -> Response:
        """``POST .../instances/batch/delete``: delete 1-100 instances, per-id outcomes."""
        name = self._workflow(params)
        body = await _validated_body(request)
        ids = _check_batch(body)
        result = await self.api.delete_batch(name, ids)
        return success({"deleted": result["deleted"], "errors": result["errors"]})

    async def describe(self, request: Request, params: dict[str, str]) -> Response:
        """``GET .../instances/ID``: the instance's details and step log."""
        name, instance_id = self._instance(params)
        try:
            details = await self.api.describe(name, instance_id)
        except WorkflowError as exc:
            raise engine_error(exc, instance_id) from None
        return success(details)

    async def delete(self, request: Request, params: dict[str, str]) -> Response:
        """``DELETE .../instances/ID``: stop and delete one instance."""
        name, instance_id = self._instance(params)
        try:
            await self.api.delete(name, instance_id)
        except WorkflowError as exc:
            raise engine_error(exc, instance_id) from None
        return success({"success": True})

    async def change_status(self, request: Request, params: dict[str, str]) -> Response:
        """``PATCH .../instances/ID/status``: pause, resume, terminate or restart."""
        name, instance_id = self._instance(params)
        action, rollback, step = check_status_change(await _validated_body(request))
        if rollback:
            raise ApiError(
                400, INVALID, "'rollback' is not supported by cfwf-emulator: terminate without it (no rollback steps run)"
            )
        try:
            if action == "restart":
                await self.api.restart(name, instance_id, step)
            else:
                await getattr(self.api, action)(name, instance_id)
            status = (await self.api.status(name, instance_id))["status"]
        except WorkflowError as exc:
            raise engine_error(exc, instance_id) from None
        return success({"status": status, "timestamp": _iso(self.emu.now)})

    async def send_event(self, request: Request, params: dict[str, str]) -> Response:
        """``POST .../instances/ID/events/TYPE``: deliver an event; the body is its payload."""
        name, instance_id = self._instance(params)
        body = await read_body(request)
        payload = parse_json(body) if body.strip() else None
        try:
            if not await self.api.exists(name, instance_id):
                raise WorkflowError("instance.not_found", instance_id)
            await self.api.send_event(name, instance_id, params["type"], payload)
        except WorkflowError as exc:
            raise engine_error(exc, instance_id) from None
        return success({"success": True})

    async def local_workers(self, request: Request, params: dict[str, str]) -> Response:
        """``GET /local/workers``: the project's Worker and its bindings."""
        return success([self.info.worker_row()])


async def _validated_body(request: Request) -> Any:
    """A validated route's body: parsed only when sent as JSON, else ``{}``."""
    body = await read_body(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        return {}
    return parse_json(body)


_BATCH_ID = re.compile(r"[a-zA-Z0-9, */#_-]+")


def _check_batch(body: Any) -> list[str]:
    """The ids of a batch-delete body (``{"instances": [1..100 ids]}``)."""
    ids = body.get("instances") if isinstance(body, dict) else None
    if ids is None:
        raise ApiError(400, INVALID, "instances: Invalid input: expected array, received undefined")
    if not isinstance(ids, list):
        raise ApiError(400, INVALID, f"instances: Invalid input: expected array, received {type(ids).__name__}")
    if not ids:
        raise ApiError(400, INVALID, "instances: Too small: expected array to have >=1 items")
    if len(ids) > 100:
        raise ApiError(400, INVALID, "instances: Too big: expected array to have <=100 items")
    for index, item in enumerate(ids):
        if not isinstance(item, str):
            raise ApiError(400, INVALID, f"instances.{index}: Invalid input: expected string")
        if not 1 <= len(item) <= 271 or not _BATCH_ID.fullmatch(item):
            raise ApiError(400, INVALID, f"instances.{index}: Invalid string: must match pattern /^[a-zA-Z0-9, *\\/#_-]+$/")
    return ids
