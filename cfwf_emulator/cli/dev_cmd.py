"""``cfwf dev``: serve the project's Worker and the Local Explorer API (the dev server).

The server package (Starlette, uvicorn) is imported only here, when ``cfwf dev`` runs, so the
other commands do not pay for it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ConfigError

__all__ = ["add_dev_parser", "run_dev"]


def add_dev_parser(top: Any) -> None:
    """Add ``cfwf dev`` and its options (``python -m cfwf_emulator.server``'s) to ``top``."""
    text = "Serve the project's Worker and the Local Explorer API; cfwf commands then go through it"
    parser = top.add_parser("dev", help=text, description=text)
    parser.set_defaults(handler="dev")
    parser.add_argument("--config", "-c", metavar="PATH", help="wrangler config file (default: found upward from here)")
    parser.add_argument("--env", "-e", metavar="NAME", help="environment of the config to use")
    parser.add_argument("--ip", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 picks a free one)")
    parser.add_argument("--persist-to", metavar="DIR", help="state directory (default: .cfwf/state beside the config)")
    parser.add_argument("--clock", choices=("real", "virtual"), default="real", help="the emulator's clock (default real)")
    parser.add_argument("--no-crons", action="store_true", help="do not fire cron triggers")
    parser.add_argument(
        "--no-reload", action="store_true", help="do not reload the code when the project's files change"
    )


def run_dev(args: argparse.Namespace) -> int:
    """Run the dev server until SIGINT or SIGTERM; the exit status (1, with one line, when it cannot start)."""
    from ..server.record import ServerRunningError
    from ..server.runner import describe_options, run_dev_server

    try:
        return run_dev_server(describe_options(args))
    except (ConfigError, ServerRunningError, OSError) as exc:  # StateLockedError is a ConfigError
        print(f"cfwf dev: {exc}", file=sys.stderr)
        return 1
