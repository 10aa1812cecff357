"""Compare two saved benchmark runs (``python -m benchmarks --json FILE``), row by row.

    python -m benchmarks.compare BASE.json NOW.json

For each row present in both (and measured in both), it prints the ratio now/base of the row's
median time and of its "x floor" (the emulator's time over the floor measured in the same run),
and flags the rows whose "x floor" is more than :data:`WORSE` times the base's: the floor absorbs
most of what the machine's load does to a run, so "x floor" is what to judge a change by.
``python -m benchmarks --compare BASE.json`` prints the same table for the run it just made.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

WORSE = 1.10
"""A row is flagged when its x-floor ratio is more than this times the base's."""
FLAG = "WORSE"


class CompareError(ValueError):
    """A file is not a saved benchmark run."""


def load(path: Path) -> dict[str, Any]:
    """A saved run; raises :class:`CompareError` saying what is wrong with the file."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CompareError(f"{path}: cannot read a saved run ({exc}); make one with python -m benchmarks --json FILE") from exc
    if not isinstance(saved, dict) or not isinstance(saved.get("rows"), dict):
        raise CompareError(f"{path}: no \"rows\" object; make one with python -m benchmarks --json FILE")
    return saved


def _measured(row: Any) -> bool:
    return isinstance(row, dict) and not row.get("error") and bool(row.get("median_s")) and bool(row.get("x_floor"))


def compare(base: dict[str, Any], now: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The table's lines, and the labels of the rows flagged worse."""
    lines = [
        f"Compared with {base.get('machine', {}).get('code_commit', '?')}: ratio now / base; "
        f"{FLAG} = x floor more than {(WORSE - 1) * 100:.0f}% worse",
        f"| {'workload':<55} | {'time now/base':>13} | {'x floor now':>11} | {'x floor base':>12} | "
        f"{'x floor now/base':>16} |       |",
        f"|{'-' * 57}|{'-' * 15}|{'-' * 13}|{'-' * 14}|{'-' * 18}|-------|",
    ]
    worse = []
    for label, row in now["rows"].items():
        old = base["rows"].get(label)
        if old is None:
            continue
        if not (_measured(row) and _measured(old)):
            why = row.get("error") or old.get("error") or "not measured"
            lines.append(f"| {label:<55} | n/a: {str(why)[:100]} |")
            continue
        change = row["x_floor"] / old["x_floor"]
        flagged = change > WORSE
        if flagged:
            worse.append(label)
        lines.append(
            f"| {label:<55} | {row['median_s'] / old['median_s']:>12.2f}x | {row['x_floor']:>11.2f} | "
            f"{old['x_floor']:>12.2f} | {change:>15.2f}x | {FLAG if flagged else '':<5} |"
        )
    lines.append(f"rows worse than {(WORSE - 1) * 100:.0f}% on x floor: {', '.join(worse) if worse else 'none'}")
    return lines, worse


def main(argv: list[str] | None = None) -> int:
    """Print the comparison of two saved runs; 2 when a file is not a saved run."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m benchmarks.compare BASE.json NOW.json", file=sys.stderr)
        return 2
    try:
        base, now = load(Path(args[0])), load(Path(args[1]))
    except CompareError as exc:
        print(f"benchmarks.compare: {exc}", file=sys.stderr)
        return 2
    print("\n".join(compare(base, now)[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
