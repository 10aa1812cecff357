"""``python -m conformance.differential --setup | --run N [--seed S] [--jobs J] [--out FILE] | --report FILE
| --scenarios``."""

from __future__ import annotations

import argparse
import sys

from .install import CACHE_ENV, SetupError, load_toolchain, setup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.differential",
        description="Opt-in differential runs of generated workflow programs on Cloudflare's local "
        "engine (wrangler dev) and on cfwf-emulator.",
        epilog=f"The toolchain lives in ~/.cache/cfwf-emulator/differential unless {CACHE_ENV} is set.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--setup", action="store_true", help="install Node 22 and wrangler from the npm registry")
    mode.add_argument("--run", type=int, metavar="N", help="run N generated programs on both backends")
    mode.add_argument("--report", metavar="FILE", help="re-compare and re-print a run saved with --out")
    mode.add_argument("--scenarios", action="store_true",
                      help="run the fixed scenarios (cron handler, deleteBatch, terminate with rollback, "
                      "describe() shape)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--jobs", type=int, default=2, help="programs run at once on the local engine (default 2)")
    parser.add_argument("--out", help="write every program, observation and diff as JSON here")
    parser.add_argument("--verbose", action="store_true", help="keep the wrangler log")
    args = parser.parse_args(argv)
    try:
        if args.setup:
            setup()
            return 0
        if args.report:
            from .runner import rereport

            return rereport(args.report)
        if args.scenarios:
            return scenarios(load_toolchain(), verbose=args.verbose)
        if args.run is None or args.run < 1:
            parser.error("--run needs a positive number of programs")
        toolchain = load_toolchain()
    except SetupError as exc:
        print(f"conformance.differential: {exc}", file=sys.stderr)
        return 2
    from .runner import run

    return run(toolchain, args.run, args.seed, jobs=args.jobs, out=args.out, verbose=args.verbose)


def scenarios(toolchain: object, verbose: bool = False) -> int:
    """``--scenarios``: the fixed scenarios on one ``wrangler dev`` and on the emulator."""
    from .scenarios import report_scenarios, run_scenarios
    from .server import DevServer

    with DevServer(toolchain, verbose=verbose) as server:  # type: ignore[arg-type]
        outcomes = run_scenarios(server)
    return report_scenarios(outcomes)


if __name__ == "__main__":
    sys.exit(main())
