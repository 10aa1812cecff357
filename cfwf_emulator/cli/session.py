"""What a command works on: the project's state opened here, or a running ``cfwf dev`` server.

While a dev server runs on the project's state directory (its ``dev-server.json`` names a live
process), it owns the state: commands go through its Local Explorer API, and the server runs what
they affect. ``--local``/``--port P`` name the server explicitly (``http://localhost:P``), as
wrangler does. A record left by a dead process is removed.
"""

from __future__ import annotations

import socket
import warnings
from pathlib import Path
from typing import Any, Protocol

from ..api import BatchDeleteResult, InstanceDetails, InstancePage, StatusDetails, WorkflowSummary
from ..client import ExplorerClient
from ..config import load_config
from ..errors import ConfigWarning
from .output import Output, UserError

__all__ = ["CommandAPI", "RemoteSession", "Session", "local_server", "recorded_server"]

DEFAULT_PORT = 8787
#: The dev server's record in the state directory (``server.record.RECORD_NAME``; the server
#: package is imported only when a record is there, since importing it imports Starlette).
RECORD_NAME = "dev-server.json"


class CommandAPI(Protocol):
    """The part of the engine API the commands use (``Emulator.api`` and :class:`ExplorerClient`)."""

    async def workflows(self) -> list[WorkflowSummary]:
        """The workflows, with their instance counts."""

    async def create(self, workflow: str, instance_id: str | None = None, params: Any = None) -> str:
        """Create an instance; its id."""

    async def exists(self, workflow: str, instance_id: str) -> bool:
        """Whether the instance exists."""

    async def status(self, workflow: str, instance_id: str) -> StatusDetails:
        """The instance's status and output."""

    async def describe(self, workflow: str, instance_id: str) -> InstanceDetails:
        """The instance's details and step timeline."""

    async def list_instances(
        self, workflow: str, *, status: str | None = None, page: int = 1, per_page: int = 50
    ) -> InstancePage:
        """A page of the workflow's instances."""

    async def pause(self, workflow: str, instance_id: str) -> None:
        """Pause the instance."""

    async def resume(self, workflow: str, instance_id: str) -> None:
        """Resume the instance."""

    async def terminate(self, workflow: str, instance_id: str) -> None:
        """Terminate the instance."""

    async def restart(self, workflow: str, instance_id: str, from_step: Any = None) -> None:
        """Restart the instance."""

    async def send_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any = None) -> None:
        """Deliver an event."""

    async def delete(self, workflow: str, instance_id: str) -> None:
        """Delete the instance."""

    async def delete_batch(self, workflow: str, instance_ids: list[str]) -> BatchDeleteResult:
        """Delete 1-100 instances."""


class Session(Protocol):
    """An emulator as the commands see it: its API, its project, and running what is due."""

    project: Any

    @property
    def api(self) -> CommandAPI:
        """The engine API."""

    async def run_until_idle(self) -> Any:
        """Run every instance until none can go on without time passing or outside input."""


class RemoteSession:
    """A running dev server's state, through its API; the server runs the instances."""

    def __init__(self, url: str, project: Any) -> None:
        self.url = url
        self.project = project
        self._api = ExplorerClient(url)

    @property
    def api(self) -> ExplorerClient:
        """The server's engine API."""
        return self._api

    async def run_until_idle(self) -> None:
        """Nothing to do: the server runs what a command changed, on its own clock."""

    async def __aenter__(self) -> "RemoteSession":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @classmethod
    def open(cls, url: str, config: Path, env: str | None, out: Output) -> "RemoteSession":
        """A session on the server at ``url`` for the project of ``config`` (its warnings printed)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConfigWarning)
            project = load_config(config, env=env)
        for warning in caught:
            if issubclass(warning.category, ConfigWarning):
                out.warn(str(warning.message))
        return cls(url, project)


def recorded_server(state_dir: Path) -> str | None:
    """The URL of the live dev server recorded in ``state_dir``; a record of a dead process is removed."""
    if not (state_dir / RECORD_NAME).exists():
        return None
    from ..server.record import read_record

    record = read_record(state_dir)
    if record is not None:
        return str(record["url"])
    (state_dir / RECORD_NAME).unlink(missing_ok=True)
    return None


def local_server(port: int | None) -> str:
    """``http://localhost:PORT`` when something listens there; wrangler's error otherwise."""
    port = DEFAULT_PORT if port is None else port
    try:
        with socket.create_connection(("localhost", port), timeout=1.0):
            pass
    except OSError as exc:
        raise UserError(
            f'Could not connect to local dev session on port {port}. Make sure "cfwf dev" is running '
            f"({exc.strerror or exc}), or leave out --local/--port to use the project's state directly."
        ) from None
    return f"http://localhost:{port}"
