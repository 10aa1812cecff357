"""Count the CPU instructions each benchmark workload executes, with valgrind, so that a change of
a few percent shows on a machine whose wall-clock timings vary by ±20% from run to run.

    python -m benchmarks.instructions                      # this checkout
    python -m benchmarks.instructions --against ../old     # and another checkout's engine, side by side

Each workload of ``python -m benchmarks`` (emulator and floor) runs once under
``valgrind --tool=cachegrind`` at 1/``--scale`` of its full size; the instructions of a run that only
builds the workloads (imports, setup) are subtracted, and the rest is divided by the units of work
(steps, events, puts). "x floor" is the emulator's count over the floor's, the instruction
counterpart of the wall-clock table's ratio. ``--against DIR`` runs THIS harness's workloads with
DIR's ``cfwf_emulator`` (:mod:`benchmarks.checkout`), so both engines run the same workloads and
each builds and reads its own state format; a workload the other engine cannot run is shown
"n/a" with the reason on stderr. Counts are in user space: time spent in the kernel
(``fsync``) is not in them, so the SQLite rows also print how many ``fdatasync`` calls each
workload makes (with ``strace``, when installed). Needs valgrind (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .checkout import CheckoutError, shim

CHILD = r"""
import sys, tempfile
from pathlib import Path
from benchmarks import __main__ as bench, resume
scale, label, part = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with tempfile.TemporaryDirectory() as scratch:
    template = Path(scratch) / "resume.db"
    steps = max(1, 10_000 // scale)
    rows = [*bench._rows(scale), *getattr(bench, "_growth_rows", lambda _s: [])(scale)]
    if label.startswith("resume") or label == "--list":
        resume.build_state(template, steps)
        rows.append(bench._resume_row(steps, template))
        if part == "none+import":  # the resume runs in a new process: count starting one that imports
            import subprocess
            subprocess.run([sys.executable, "-P", "-c", "import benchmarks.resume"], check=True)
    if label == "--list":
        print("\n".join(f"{row.label}\t{row.work}" for row in rows))
    elif part in ("run", "floor"):
        row = next(row for row in rows if row.label == label)
        work = Path(scratch) / "work"
        work.mkdir()
        (row.run if part == "run" else row.floor)(work)
"""
"""The program run under valgrind, in the checkout being measured (it may be an older one)."""

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


class CountError(RuntimeError):
    """A workload failed under valgrind in the checkout being counted."""


@dataclass
class Counted:
    """Instructions per unit of work of one workload in one checkout."""

    label: str
    emulator: float
    floor: float
    syncs: int | None

    @property
    def ratio(self) -> float:
        """Emulator instructions over the floor's."""
        return self.emulator / self.floor if self.floor else float("nan")


def _child(tree: Path, *args: str) -> list[str]:
    return [sys.executable, "-P", "-c", CHILD, *args]


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}


def _instructions(tree: Path, scale: int, label: str, part: str) -> int:
    """Instructions of the child program and every process it starts (each logs to its own file,
    so a grandchild whose output is captured, like the resume row's, is counted too)."""
    with tempfile.TemporaryDirectory() as logs:
        command = [
            "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
            "--trace-children=yes", f"--log-file={logs}/%p.log", *_child(tree, str(scale), label, part),
        ]
        done = subprocess.run(command, cwd=tree, env=_env(tree), capture_output=True, text=True, check=False)
        text = "".join(log.read_text() for log in Path(logs).glob("*.log"))
    counts = [int(found.replace(",", "")) for found in _REFS.findall(text)]
    if done.returncode != 0 or not counts:
        raise CountError(f"{label} ({part}) failed in {tree}:\n{done.stderr[-2000:]}{text[-2000:]}")
    return sum(counts)


def _syncs(tree: Path, scale: int, label: str) -> int | None:
    if shutil.which("strace") is None or "SQLite" not in label:
        return None
    with tempfile.NamedTemporaryFile("r") as log:
        command = ["strace", "-f", "-c", "-o", log.name, "-e", "trace=fdatasync,fsync",
                   *_child(tree, str(scale), label, "run")]
        subprocess.run(command, cwd=tree, env=_env(tree), capture_output=True, check=True)
        calls = [int(line.split()[3]) for line in log.read().splitlines() if line.rstrip().endswith(("fsync", "fdatasync"))]
    return sum(calls)


def _workloads(tree: Path, scale: int) -> dict[str, int]:
    listed = subprocess.run(_child(tree, str(scale), "--list", "none"), cwd=tree, env=_env(tree),
                            capture_output=True, text=True, check=True).stdout
    rows = dict(line.split("\t") for line in listed.splitlines() if "\t" in line)
    return {label: int(work) for label, work in rows.items()}


def count(tree: Path, scale: int, labels: list[str], work: dict[str, int]) -> dict[str, Counted]:
    """Instructions per unit for each workload in ``labels``, measured in ``tree``; a workload that
    fails there is left out (its error on stderr)."""
    setup = _instructions(tree, scale, "setup", "none")
    counted = {}
    for label in labels:
        try:
            counted[label] = _count_one(tree, scale, label, work[label], setup)
        except CountError as exc:
            print(f"  n/a {label} in {tree}: {exc}", file=sys.stderr, flush=True)
            continue
        print(f"  counted {label} in {tree}", file=sys.stderr, flush=True)
    return counted


def _count_one(tree: Path, scale: int, label: str, work: int, setup: int) -> Counted:
    run_base = floor_base = setup
    if label.startswith("resume"):
        run_base = _instructions(tree, scale, label, "none+import")
        floor_base = _instructions(tree, scale, label, "none")
    emulator = (_instructions(tree, scale, label, "run") - run_base) / work
    floor = (_instructions(tree, scale, label, "floor") - floor_base) / work
    return Counted(label, emulator, floor, _syncs(tree, scale, label))


def _print(here: dict[str, Counted], other: dict[str, Counted] | None, scale: int) -> None:
    print(f"CPU instructions per unit of work (valgrind), workloads at 1/{scale} of full size")
    header = ["workload", "instr/unit", "x floor", "syncs"]
    if other is not None:
        header += ["other instr/unit", "other x floor", "other syncs", "x floor change"]
    lines = [header]
    for label, mine in here.items():
        line = [label, f"{mine.emulator:,.0f}", f"{mine.ratio:.2f}", "" if mine.syncs is None else str(mine.syncs)]
        theirs = None if other is None else other.get(label)
        if other is not None and theirs is None:
            line += ["n/a: failed", "", "", ""]
        if theirs is not None:
            change = (mine.ratio / theirs.ratio - 1) * 100
            line += [f"{theirs.emulator:,.0f}", f"{theirs.ratio:.2f}",
                     "" if theirs.syncs is None else str(theirs.syncs), f"{change:+.1f}%"]
        lines.append(line)
    widths = [max(len(line[i]) if i < len(line) else 0 for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        cells = [cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line)]
        print("| " + " | ".join(cells) + " |")
        if index == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")


def main(argv: list[str] | None = None) -> int:
    """Count, and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", type=Path, help="another checkout of cfwf-emulator to count too")
    parser.add_argument("--scale", type=int, default=10, help="run workloads at 1/SCALE of full size (default 10)")
    parser.add_argument("--only", help="count only the workloads whose label contains this text")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    if args.scale < 1:
        parser.error("--scale must be at least 1")
    here_tree = Path(__file__).resolve().parent.parent
    work = _workloads(here_tree, args.scale)
    labels = [label for label in work if args.only is None or args.only in label]
    other = None
    if args.against is not None:
        try:
            other_tree = shim(args.against)
        except CheckoutError as exc:
            parser.error(f"--against: {exc}")
        try:
            other = count(other_tree, args.scale, labels, work)
        finally:
            shutil.rmtree(other_tree)
    _print(count(here_tree, args.scale, labels, work), other, args.scale)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
