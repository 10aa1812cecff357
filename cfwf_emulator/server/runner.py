"""Running the dev server: load the project, serve it with uvicorn in the emulator's loop, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Mapping

import uvicorn

from ..emulator import Emulator
from ..hooks import hookimpl
from .app import create_app
from .record import ServerRunningError, read_record, remove_record, write_record
from .reloader import Reloader

__all__ = ["DEFAULT_PORT", "DevOptions", "StatusPrinter", "default_state_dir", "run_dev_server", "serve", "serving"]

DEFAULT_PORT = 8787
STATE_FILE = "workflows.sqlite3"


@dataclass(frozen=True)
class DevOptions:
    """``cfwf dev``'s options (see ``python -m cfwf_emulator.server --help``)."""

    config: str | None = None
    env: str | None = None
    ip: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    persist_to: str | None = None
    clock: str = "real"
    crons: bool = True
    reload: bool = True


class StatusPrinter:
    """An observer printing one line per instance status change, and the traceback of the
    attempt that made an instance fail (from ``emu.api.describe``)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._pending: set[asyncio.Task[None]] = set()

    @hookimpl
    def cfwf_instance_status_changed(self, workflow: str, instance_id: str, old: str | None, new: str, at: float) -> None:
        """Print ``workflow instance: old -> new`` (and, once ``errored``, the failing attempt's traceback)."""
        print(f"[cfwf] {workflow} {instance_id}: {old or 'created'} -> {new}", flush=True)
        if new == "errored":
            task = asyncio.get_running_loop().create_task(self._print_traceback(workflow, instance_id))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait until every traceback being looked up has been printed."""
        await asyncio.gather(*self._pending)

    async def _print_traceback(self, workflow: str, instance_id: str) -> None:
        try:
            details = await self.emu.api.describe(workflow, instance_id)
        except Exception:  # deleted meanwhile: nothing to show
            return
        text = failing_traceback(details)
        if text:
            print(f"[cfwf] {workflow} {instance_id}: the failing attempt raised:\n{text.rstrip()}", flush=True)


def failing_traceback(details: Mapping[str, object]) -> str | None:
    """The Python traceback of the last failed attempt in ``describe()``'s details, if one was kept."""
    steps = details.get("steps")
    for step in reversed(steps if isinstance(steps, list) else []):
        extension = step.get("cfwf") if isinstance(step, dict) else None
        attempts = extension.get("attempts") if isinstance(extension, dict) else None
        for attempt in reversed(attempts if isinstance(attempts, list) else []):
            if isinstance(attempt, dict) and attempt.get("traceback"):
                return str(attempt["traceback"])
    return None


def default_state_dir(emu: Emulator) -> Path:
    """``.cfwf/state`` beside the project's config (the working directory without one)."""
    root = Path(emu.project.root) if emu.project is not None else Path.cwd()
    return root / ".cfwf" / "state"


def _is_loopback(ip: str) -> bool:
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handling (the runner installs its own on the loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _url(server: uvicorn.Server, ip: str, port: int) -> str:
    for listener in server.servers:
        for sock in listener.sockets:
            port = sock.getsockname()[1]
    host = "localhost" if _is_loopback(ip) else ip
    return f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def serving(emu: Emulator, *, ip: str = "127.0.0.1", port: int = 0) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    """Serve ``emu`` (started already) on ``ip:port`` in this event loop; yields ``(url, server)``.

    Port 0 picks a free port (the yielded URL names it). Leaving the block stops accepting, lets
    requests in progress finish and closes the listening socket; the emulator stays open.
    """
    app = await create_app(emu, host=ip)
    server = _Server(uvicorn.Config(app, host=ip, port=port, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.ensure_future(server.serve())
    try:
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        if not server.started:
            await task  # raises why it could not start
            raise OSError(f"the dev server could not listen on {ip}:{port}")
        yield _url(server, ip, port), server
    finally:
        app.extensions.events.close()  # open event streams end, so the server can stop
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def _reloading(emu: Emulator, enabled: bool) -> AsyncIterator[None]:
    """Reload the project's code when its files change, for the length of the block (``enabled``)."""
    if not enabled or emu.project is None or emu.project.main is None:
        yield
        return
    reloader = Reloader(emu, _log)
    stop = asyncio.Event()
    task = await reloader.start(stop)
    _log(f"watching {reloader.sources} for changes (--no-reload turns it off)")
    try:
        yield
    finally:
        stop.set()
        await task


def _log(line: str) -> None:
    print(f"[cfwf] {line}", flush=True)


async def serve(
    emu: Emulator, *, ip: str = "127.0.0.1", port: int = DEFAULT_PORT, state_dir: Path | None = None,
    reload: bool = False,
) -> None:
    """Serve ``emu`` on ``ip:port`` until SIGINT or SIGTERM, then close it (checkpointing its state).

    Records the address in ``state_dir/dev-server.json`` while serving (when ``state_dir`` is given).
    With ``reload`` (and an emulator made by ``from_config``), the project's code is imported
    again whenever its Python sources change (see ``Emulator.reload``).
    """
    if not _is_loopback(ip):
        print(
            f"[cfwf] WARNING: serving on {ip}, not loopback: other machines can reach the Worker "
            "(the /cdn-cgi/ API answers only to localhost and this address)",
            file=sys.stderr, flush=True,
        )
    printer = StatusPrinter(emu)
    emu.register(printer, name="cfwf-dev-status")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with emu:
            async with serving(emu, ip=ip, port=port) as (url, _), _reloading(emu, reload):
                if state_dir is not None:
                    write_record(state_dir, url)
                try:
                    print(f"[cfwf] ready on {url} (Local Explorer API: {url}/cdn-cgi/local/explorer/api)", flush=True)
                    await stop.wait()
                    print("[cfwf] stopping", flush=True)
                    await printer.flush()
                finally:
                    if state_dir is not None:
                        remove_record(state_dir)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    print("[cfwf] stopped; state saved", flush=True)


def load(options: DevOptions) -> tuple[Emulator, Path]:
    """The project's emulator on its persisted state, and the state directory."""
    probe = Emulator.from_config(options.config, env=options.env)
    config_path = probe.project.path
    state_dir = Path(options.persist_to) if options.persist_to else default_state_dir(probe)
    state_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the config's warnings were shown by the first load
        emu = Emulator.from_config(
            config_path, env=options.env, storage=f"sqlite:///{state_dir / STATE_FILE}", clock=options.clock,
            crons=options.crons,
        )
    return emu, state_dir


def run_dev_server(options: DevOptions) -> int:
    """Load the project and serve it until interrupted; the process's exit status."""
    emu, state_dir = load(options)
    live = read_record(state_dir)
    if live is not None:
        raise ServerRunningError(
            f"a dev server (pid {live['pid']}) already serves {state_dir} at {live.get('url')}: "
            "stop it first, or pass another --persist-to directory"
        )
    asyncio.run(serve(emu, ip=options.ip, port=options.port, state_dir=state_dir, reload=options.reload))
    return 0


def describe_options(options: Any) -> DevOptions:
    """:class:`DevOptions` from parsed command-line arguments."""
    return DevOptions(
        config=options.config, env=options.env, ip=options.ip, port=options.port,
        persist_to=options.persist_to, clock=options.clock, crons=not options.no_crons,
        reload=not options.no_reload,
    )
