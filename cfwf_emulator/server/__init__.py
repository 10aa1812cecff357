"""``cfwf dev``'s server: the project's Worker and Cloudflare's Local Explorer API (workflows part).

Served by uvicorn inside the emulator's event loop, with Starlette's request and response types;
importing this package imports them, so nothing else in cfwf-emulator imports it eagerly.
``python -m cfwf_emulator.server`` runs it (see :func:`run_dev_server`); :func:`serve` serves an
emulator you built until a signal; :func:`serving` serves one for the length of an ``async with``; :func:`create_app` gives the ASGI app alone.
"""

from __future__ import annotations

from .app import API_ROOT, DevServerApp, create_app, openapi_document
from .record import ServerRunningError, read_record
from .runner import DEFAULT_PORT, DevOptions, default_state_dir, run_dev_server, serve, serving

__all__ = [
    "API_ROOT",
    "DEFAULT_PORT",
    "DevOptions",
    "DevServerApp",
    "ServerRunningError",
    "create_app",
    "default_state_dir",
    "openapi_document",
    "read_record",
    "run_dev_server",
    "serve",
    "serving",
]
