"""The engine API over HTTP: a running dev server's Local Explorer API, asked with the stdlib.

:class:`ExplorerClient` answers the parts of :class:`~cfwf_emulator.api.WorkflowsAPI` that read
and change instances (what the ``cfwf`` commands need), by calling the routes under
``/cdn-cgi/local/explorer/api`` of a ``cfwf dev`` (or ``wrangler dev``) server. The server's
refusals come back as the :class:`~cfwf_emulator.errors.WorkflowError` the engine raised there
(same code, same message); anything else the server refuses, or cannot be reached, raises
:class:`ExplorerError`. Requests run in a worker thread, so the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from typing import Any, cast
from urllib.parse import quote, urlencode

from .api import BatchDeleteResult, InstanceDetails, InstancePage, InstanceSummary, StatusDetails, WorkflowSummary
from .errors import WorkflowError

__all__ = ["API_PATH", "ExplorerClient", "ExplorerError"]

#: Where the Local Explorer API lives on a dev server.
API_PATH = "/cdn-cgi/local/explorer/api"
#: The largest page the API serves.
_SERVER_PAGE = 100
#: ``WorkflowError: (code) message``, as the API words an engine refusal.
_ENGINE = re.compile(r"WorkflowError: (?:\((?P<code>[a-z_.]+)\) )?(?P<message>.*)", re.DOTALL)


class ExplorerError(RuntimeError):
    """The dev server could not be reached, or refused a request for a reason not the engine's."""


def _engine_error(status: int, message: str) -> WorkflowError | None:
    if status == 404 and message.startswith("Workflow instance "):
        return WorkflowError("instance.not_found", message.rstrip("."))
    match = _ENGINE.fullmatch(message)
    if match is None:
        return None
    code = match["code"] or ("instance.invalid_id" if "invalid id" in match["message"] else "workflow.error")
    return WorkflowError(code, match["message"])


class ExplorerClient:
    """The engine API of the dev server at ``base_url`` (such as ``http://localhost:8787``)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _send(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base_url + API_PATH + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"null")
            except ValueError:
                raise ExplorerError(f"the dev server at {self.base_url} answered {method} {path} with HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ExplorerError(
                f"cannot reach the dev server at {self.base_url} ({reason}); is `cfwf dev` still running?"
            ) from None

    async def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """The envelope of a successful call (``result`` and ``result_info``)."""
        status, envelope = await asyncio.to_thread(self._send, method, path, body)
        if isinstance(envelope, dict) and envelope.get("success") is True:
            return envelope
        errors = envelope.get("errors") if isinstance(envelope, dict) else None
        message = str(errors[0].get("message", "")) if errors and isinstance(errors[0], dict) else f"HTTP {status}"
        engine = _engine_error(status, message)
        if engine is not None:
            raise engine
        raise ExplorerError(f"the dev server at {self.base_url} refused {method} {path}: {message}")

    @staticmethod
    def _instance_path(workflow: str, instance_id: str) -> str:
        return f"/workflows/{quote(workflow, safe='')}/instances/{quote(instance_id, safe='')}"

    async def workflows(self) -> list[WorkflowSummary]:
        """The served workflows, each with its instance counts per status."""
        summaries: list[WorkflowSummary] = []
        for row in (await self._call("GET", "/workflows"))["result"]:
            detail = (await self._call("GET", f"/workflows/{quote(row['name'], safe='')}"))["result"]
            counts = {status: count for status, count in detail.get("instances", {}).items() if count}
            summaries.append(
                {"name": row["name"], "binding": str(row.get("binding", "")), "class_name": row["class_name"], "counts": counts}
            )
        return summaries

    async def create(self, workflow: str, instance_id: str | None = None, params: Any = None) -> str:
        """Create an instance (the server runs it); its id."""
        body: dict[str, Any] = {"params": {} if params is None else params}
        if instance_id is not None:
            body["id"] = instance_id
        result = (await self._call("POST", f"/workflows/{quote(workflow, safe='')}/instances", body))["result"]
        return str(result["id"])

    async def exists(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists."""
        try:
            await self.describe(workflow, instance_id)
        except WorkflowError as exc:
            if exc.code == "instance.not_found":
                return False
            raise
        return True

    async def describe(self, workflow: str, instance_id: str) -> InstanceDetails:
        """The instance's details and step timeline, as the server's engine gives them."""
        return cast(InstanceDetails, (await self._call("GET", self._instance_path(workflow, instance_id)))["result"])

    async def status(self, workflow: str, instance_id: str) -> StatusDetails:
        """``{"status", "output"}``, and ``"error"`` when errored."""
        details: dict[str, Any] = dict(await self.describe(workflow, instance_id))
        found: dict[str, Any] = {"status": details["status"], "output": details.get("output")}
        if details.get("error") is not None:
            found["error"] = details["error"]
        return cast(StatusDetails, found)

    async def list_instances(
        self, workflow: str, *, status: str | None = None, page: int = 1, per_page: int = 50
    ) -> InstancePage:
        """A page of the workflow's instances, newest first (pages of any size: asked 100 at a time)."""
        if page < 1 or per_page < 1:
            raise WorkflowError("instance.invalid_page", f"page and per_page must be 1 or more, got {page} and {per_page}")
        first = (page - 1) * per_page
        server_page = first // _SERVER_PAGE + 1
        skip = first - (server_page - 1) * _SERVER_PAGE
        rows: list[InstanceSummary] = []
        while True:
            query = {"page": server_page, "per_page": _SERVER_PAGE, **({"status": status} if status else {})}
            envelope = await self._call("GET", f"/workflows/{quote(workflow, safe='')}/instances?{urlencode(query)}")
            batch = envelope["result"]
            rows += [{"id": r["id"], "status": r["status"], "created": r["created_on"], "modified": r["created_on"]} for r in batch]
            info = envelope.get("result_info") or {}
            if len(rows) - skip >= per_page or len(batch) < _SERVER_PAGE:
                break
            server_page += 1
        return {
            "instances": rows[skip : skip + per_page],
            "total": int(info.get("total_count", len(rows))),
            "counts": dict(info.get("status_counts") or {}),
            "page": page,
            "per_page": per_page,
        }

    async def _status_change(self, workflow: str, instance_id: str, body: dict[str, Any]) -> None:
        await self._call("PATCH", self._instance_path(workflow, instance_id) + "/status", body)

    async def pause(self, workflow: str, instance_id: str) -> None:
        """Pause the instance."""
        await self._status_change(workflow, instance_id, {"status": "pause"})

    async def resume(self, workflow: str, instance_id: str) -> None:
        """Resume a paused instance."""
        await self._status_change(workflow, instance_id, {"status": "resume"})

    async def terminate(self, workflow: str, instance_id: str) -> None:
        """Terminate the instance."""
        await self._status_change(workflow, instance_id, {"status": "terminate"})

    async def restart(self, workflow: str, instance_id: str, from_step: Any = None) -> None:
        """Restart from the beginning, or from ``{"name", "count", "type"}``."""
        body: dict[str, Any] = {"status": "restart"}
        if from_step is not None:
            body["from"] = from_step
        await self._status_change(workflow, instance_id, body)

    async def send_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any = None) -> None:
        """Deliver an event of ``event_type`` to the instance."""
        path = self._instance_path(workflow, instance_id) + f"/events/{quote(str(event_type), safe='')}"
        await self._call("POST", path, payload)

    async def delete(self, workflow: str, instance_id: str) -> None:
        """Stop the instance and delete its state."""
        await self._call("DELETE", self._instance_path(workflow, instance_id))

    async def delete_batch(self, workflow: str, instance_ids: list[str]) -> BatchDeleteResult:
        """Delete 1-100 instances; per-id outcomes in input order."""
        path = f"/workflows/{quote(workflow, safe='')}/instances/batch/delete"
        result = (await self._call("POST", path, {"instances": instance_ids}))["result"]
        return {"deleted": result["deleted"], "errors": result["errors"]}
