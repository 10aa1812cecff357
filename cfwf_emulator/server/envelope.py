"""The Local Explorer API's answers: the ``{success, errors, messages, result}`` envelope and CORS."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

__all__ = ["ApiError", "NOT_FOUND", "INVALID", "DATE_RANGE", "UNCAUGHT", "cors", "failure", "not_routed", "success"]

#: Workflow or instance not found.
NOT_FOUND = 10501
#: ``date_start`` after ``date_end`` on the instance list.
DATE_RANGE = 10502
#: Everything else: validation failures, engine errors, internal errors.
INVALID = 10001
#: An exception nothing expected.
UNCAUGHT = 10000

CORS_PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, cf-metadata-only, cf-r2-custom-metadata, X-Miniflare-Explorer-Refresh",
    "Access-Control-Max-Age": "86400",
}


class ApiError(Exception):
    """A failure the API answers with its envelope: HTTP ``status``, Cloudflare ``code``, ``message``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def success(result: Any, result_info: dict[str, Any] | None = None) -> JSONResponse:
    """A ``200`` envelope carrying ``result`` (and ``result_info`` on the list routes)."""
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return JSONResponse(body)


def failure(error: ApiError) -> JSONResponse:
    """The envelope of a failure: one error, ``result: null``."""
    body = {
        "success": False,
        "errors": [{"code": error.code, "message": error.message}],
        "messages": [],
        "result": None,
    }
    return JSONResponse(body, status_code=error.status)


def not_routed() -> Response:
    """What an unknown path or method under the API answers (not the envelope)."""
    return PlainTextResponse("404 Not Found", status_code=404)


def cors(request: Request, response: Response) -> Response:
    """Add ``Access-Control-Allow-Origin`` (the request's ``Origin``) when the request had one."""
    origin = request.headers.get("origin")
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
    return response


def preflight(request: Request) -> Response:
    """The ``204`` answer to an ``OPTIONS`` preflight on any API path."""
    headers = {"Access-Control-Allow-Origin": request.headers.get("origin", "*"), **CORS_PREFLIGHT}
    return Response(status_code=204, headers=headers)
