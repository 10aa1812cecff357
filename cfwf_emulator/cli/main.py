"""``cfwf``: parse, open the project, run one command, report errors on one line.

With a ``cfwf dev`` server running on the project's state (or ``--local``/``--port``), the
commands go through it (see :mod:`.session`). Exit status: 0 done, 1 a user error (one line on stderr saying what is wrong and what to do; the
traceback only with ``--debug``), 2 a usage error (from the parser), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import traceback
from typing import Awaitable, Callable

from ..client import ExplorerError
from ..errors import ConfigError, WorkflowError
from ..store.lock import StateLockedError
from ..store.sqlite import StoreError
from . import instances_cmd, offline_cmd, workflows_cmd
from .context import Ctx
from .dev_cmd import run_dev
from .output import Output, UserError
from .parser import build_parser
from .project import ProjectOptions, config_file, open_project, state_file
from .session import RemoteSession, local_server, recorded_server

__all__ = ["main"]

HANDLERS: dict[str, Callable[[Ctx], Awaitable[int]]] = {
    "list_workflows": workflows_cmd.list_workflows,
    "describe_workflow": workflows_cmd.describe_workflow,
    "trigger": workflows_cmd.trigger,
    "delete_workflow": workflows_cmd.delete_workflow,
    "list_instances": instances_cmd.list_instances,
    "describe_instance": instances_cmd.describe_instance,
    "send_event": instances_cmd.send_event,
    "lifecycle": instances_cmd.lifecycle,
    "delete_instances": instances_cmd.delete_instances,
    "terminate_all": instances_cmd.terminate_all,
    "export": offline_cmd.export,
}
#: Commands that load the project but not its state.
STATELESS: dict[str, Callable[[argparse.Namespace, Output, ProjectOptions], Awaitable[int]]] = {
    "check": offline_cmd.check,
    "replay": offline_cmd.replay,
}


def _dev_server(args: argparse.Namespace, options: ProjectOptions, out: Output) -> RemoteSession | None:
    """The running dev server this command goes through: ``--local``/``--port``, or the one recorded
    in the state directory; None to use the state file directly."""
    explicit = getattr(args, "local", False) or getattr(args, "port", None) is not None
    if args.handler == "export":
        if explicit:
            raise UserError("export reads the journal from the state file, not through a dev server: leave out --local/--port")
        return None
    url = local_server(args.port) if explicit else recorded_server(state_file(options, config_file(options)).parent)
    if url is None:
        return None
    if args.debug:
        out.stderr.write(f"[cfwf] going through the dev server at {url}\n")
    return RemoteSession.open(url, config_file(options), options.env, out)


async def _dispatch(args: argparse.Namespace, out: Output) -> int:
    options = ProjectOptions(args.config, args.env, args.persist_to)
    if args.handler in STATELESS:
        return await STATELESS[args.handler](args, out, options)
    server = _dev_server(args, options, out)
    if server is not None:
        async with server:
            return await HANDLERS[args.handler](Ctx(server, args, out))
    emulator = open_project(options, out, write=args.write)
    async with emulator:
        return await HANDLERS[args.handler](Ctx(emulator, args, out))


def _locked_message(args: argparse.Namespace) -> str:
    options = ProjectOptions(args.config, args.env, args.persist_to)
    try:
        where = str(state_file(options, config_file(options)).parent)
    except (ConfigError, UserError):
        where = "the state directory"
    return (
        f"{where} is in use by another process (a `cfwf dev`, or another cfwf command still running); "
        "reads (list, describe) work meanwhile: wait for it or stop it, then run this command again"
    )


def _message(exc: Exception, args: argparse.Namespace) -> str:
    """The one line that says what went wrong and what to do."""
    if isinstance(exc, StateLockedError):
        return _locked_message(args)
    if isinstance(exc, StoreError):
        return f"{exc} (the state directory is chosen with --persist-to DIR)"
    if isinstance(exc, (UserError, ConfigError, WorkflowError, ExplorerError)):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc} (run again with --debug for the traceback)"


def main(argv: list[str] | None = None) -> int:
    """Run ``cfwf`` with ``argv`` (default: the process's arguments); the exit status."""
    args = build_parser().parse_args(argv)
    if args.handler == "dev":
        return run_dev(args)
    out = Output(json_mode=getattr(args, "json", False))
    try:
        return asyncio.run(_dispatch(args, out))
    except KeyboardInterrupt:
        out.error("interrupted; what ran so far is saved in the state: run a command again to go on")
        return 130
    except Exception as exc:  # the one place that turns every error into its line
        if args.debug:
            traceback.print_exc()
        out.error(_message(exc, args))
        return 1
