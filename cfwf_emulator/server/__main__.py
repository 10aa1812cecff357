"""``python -m cfwf_emulator.server``: serve a project's Worker and the Local Explorer API."""

from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError
from .record import ServerRunningError
from .runner import DEFAULT_PORT, describe_options, run_dev_server


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m cfwf_emulator.server`` (``cfwf dev``'s)."""
    p = argparse.ArgumentParser(prog="python -m cfwf_emulator.server", description=__doc__)
    p.add_argument("--config", help="wrangler config file or directory (default: searched upward from here)")
    p.add_argument("--env", help="named environment of the config")
    p.add_argument("--ip", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--persist-to", help="state directory (default .cfwf/state beside the config)")
    p.add_argument("--clock", choices=("real", "virtual"), default="real", help="the emulator's clock")
    p.add_argument("--no-crons", action="store_true", help="do not fire cron triggers")
    p.add_argument("--no-reload", action="store_true", help="do not reload the code when the project's files change")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the dev server; its exit status."""
    options = describe_options(parser().parse_args(argv))
    try:
        return run_dev_server(options)
    except (ConfigError, ServerRunningError, OSError) as exc:  # StateLockedError is a ConfigError
        print(f"cfwf dev: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
