"""Run this harness against another checkout's engine: the workloads of THIS ``benchmarks``
package, with ``cfwf_emulator`` imported from ``code`` (an older checkout, say).

A shim directory holds two links, ``cfwf_emulator`` -> ``code/cfwf_emulator`` and ``benchmarks``
-> this package; processes started with :func:`environment` as their environment and the shim
as their working directory import both from it, before anything installed, and so does every
process they start (the resume and sleepers rows run in subprocesses).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
"""The checkout this harness belongs to."""
CODE_VARIABLE = "CFWF_BENCH_CODE"
"""Set in processes that time another checkout's engine: that checkout's root."""


class CheckoutError(ValueError):
    """``--code DIR`` does not name a checkout of cfwf-emulator."""


def validate(code: Path) -> Path:
    """``code`` resolved; raises :class:`CheckoutError` unless it holds ``cfwf_emulator/__init__.py``."""
    root = code.expanduser().resolve()
    if not (root / "cfwf_emulator" / "__init__.py").is_file():
        raise CheckoutError(f"{code}: no cfwf_emulator/__init__.py there; give the root of a cfwf-emulator checkout")
    return root


def shim(code: Path, parent: Path | None = None) -> Path:
    """A new directory (under ``parent`` or the temporary directory) linking ``cfwf_emulator`` to
    ``code``'s and ``benchmarks`` to this harness; the caller removes it."""
    root = Path(tempfile.mkdtemp(prefix="cfwf-bench-code-", dir=parent))
    (root / "cfwf_emulator").symlink_to(validate(code) / "cfwf_emulator", target_is_directory=True)
    (root / "benchmarks").symlink_to(HERE / "benchmarks", target_is_directory=True)
    return root


def environment(code: Path, shim_dir: Path) -> dict[str, str]:
    """This process's environment with the shim first on ``PYTHONPATH`` and :data:`CODE_VARIABLE` set."""
    return {**os.environ, "PYTHONPATH": str(shim_dir), CODE_VARIABLE: str(validate(code))}


def commit(tree: Path) -> str:
    """The git commit checked out in ``tree`` (``+dirty`` when it has uncommitted changes), or
    "unknown" when git cannot tell."""
    try:
        head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short=10", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def code_under_test() -> Path:
    """The checkout whose engine this process times: ``--code``'s, or this harness's own."""
    given = os.environ.get(CODE_VARIABLE)
    return Path(given) if given else HERE
