"""The dashboard's files, served under :data:`DASHBOARD_ROOT` (our own page, no build step, no CDN).

Its files ship with the package (``dashboard/index.html``, three JavaScript modules and
``style.css``), read once at start. A request never names a file on disk: ``/assets/NAME`` is looked up in that fixed set,
and every other path under the root is the page itself (it routes in the browser). Every answer
carries a Content-Security-Policy allowing only this origin's scripts, styles and API, so a value
shown on the page can never run as code even if it were inserted unescaped.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

__all__ = ["ASSETS", "DASHBOARD_ROOT", "Dashboard"]

#: Where the dashboard is served (Cloudflare's Local Explorer lives at the same path).
DASHBOARD_ROOT = "/cdn-cgi/local/explorer"

#: The dashboard's files and their media types.
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "dom.js": "text/javascript; charset=utf-8",
    "timeline.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class Dashboard:
    """Answers ``GET`` requests under :data:`DASHBOARD_ROOT` from the packaged files."""

    def __init__(self) -> None:
        folder = resources.files(__package__).joinpath("dashboard")
        self.files = {name: folder.joinpath(name).read_bytes() for name in ASSETS}

    def handles(self, path: str) -> bool:
        """Whether ``path`` is the dashboard's (the API under it is not)."""
        if path == DASHBOARD_ROOT:
            return True
        api = DASHBOARD_ROOT + "/api"
        return path.startswith(DASHBOARD_ROOT + "/") and path != api and not path.startswith(api + "/")

    def __call__(self, request: Request) -> Response:
        """The page, one of its assets, or ``404``/``405``."""
        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse("405 Method Not Allowed: the dashboard only answers GET", status_code=405)
        rest = request.scope["path"][len(DASHBOARD_ROOT):]  # as received (see DevServerApp.answer)
        if rest.startswith("/assets/"):
            name = rest[len("/assets/"):]
            if name not in ASSETS:
                return PlainTextResponse("404 Not Found", status_code=404)
        else:
            name = "index.html"
        return Response(self.files[name], media_type=ASSETS[name], headers=_HEADERS)
