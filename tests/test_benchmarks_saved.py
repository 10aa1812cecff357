"""``python -m benchmarks``: saving a run (``--json``), comparing with a saved run (``--compare``,
``python -m benchmarks.compare``) and timing another checkout's engine (``--code``), at smoke
sizes. No timing is asserted: only what is saved and printed, and the ratios computed from it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _benchmarks(*args: str, env: dict[str, str] | None = None, module: str = "benchmarks") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("run") / "run.json"
    done = _benchmarks("--smoke", "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"saved to {out}" in done.stdout
    return out, json.loads(out.read_text(encoding="utf-8"))


def _compare_line(output: str, label: str) -> str:
    """The line of ``label`` in the comparison table (the output's tables also have one)."""
    table = output[output.index("Compared with"):]
    return next(line for line in table.splitlines() if line.startswith(f"| {label} "))


def test_json_saves_every_rows_figures_and_the_machine(saved: tuple[Path, dict[str, Any]]) -> None:
    _, run = saved
    assert run["machine"]["cpu_count"] == os.cpu_count()
    assert run["machine"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert re.fullmatch(r"[0-9a-f]{10}(\+dirty)?|unknown", run["machine"]["code_commit"])
    assert run["options"] == {"smoke": True, "repeat": 1, "peers": False}
    steps = run["rows"]["1 x 10 steps, SQLite WAL+FULL"]
    assert steps["runs"] == [steps["median_s"]] and steps["floor"] == "sqlite FULL"
    assert steps["x_floor"] == pytest.approx(steps["median_s"] / steps["floor_s"])
    assert steps["peer"]["name"] == "DBOS" and steps["peer"]["note"] == "not run (--smoke/--no-peers)"
    assert run["rows"]["40 KV puts, SQLite WAL+FULL"]["last_first"] > 0
    assert run["rows"]["40 KV puts, SQLite WAL+FULL"]["peer"]["note"].startswith("n/a: ")
    assert run["rows"]["resume 100-step instance, new process"]["peer"]["name"] == "DBOS"
    assert set(run["sleepers"]) == {
        "memory, no hibernation", "memory, hibernate after 1 hour", "SQLite WAL+NORMAL, hibernate",
        "SQLite WAL+FULL, default options",
    }
    default = run["sleepers"]["SQLite WAL+FULL, default options"]
    assert default["complete"] and default["wake_s"] > 0
    assert default["wake_us"] == pytest.approx(default["wake_s"] * 1e6 / 100)
    assert "test taking cfwf" in run["plugin"] and "cfwf workflows list (baseline: no instance read)" in run["cli"]


def test_compare_of_two_saved_runs_flags_the_row_made_twice_worse(saved: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, run = saved
    base = json.loads(json.dumps(run))
    label = "1 x 100 steps, memory"
    base["rows"][label]["x_floor"] /= 2
    base["rows"][label]["median_s"] /= 4
    del base["rows"]["40 KV puts, SQLite WAL+FULL"]
    (tmp_path / "base.json").write_text(json.dumps(base))
    done = _benchmarks(str(tmp_path / "base.json"), str(path), module="benchmarks.compare")
    assert done.returncode == 0, done.stderr
    worse = _compare_line(done.stdout, label)
    assert re.search(r"\|\s+4\.00x \|.*\|\s+2\.00x \| WORSE \|", worse), worse
    same = _compare_line(done.stdout, "1 x 10 steps, SQLite WAL+FULL")
    assert re.search(r"\|\s+1\.00x \|.*\|\s+1\.00x \|\s+\|", same), same
    assert "| 40 KV puts" not in done.stdout
    assert done.stdout.rstrip().endswith(f"rows worse than 10% on x floor: {label}")


def test_compare_during_a_run_flags_a_row_whose_base_was_far_better(saved: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    _, run = saved
    base = json.loads(json.dumps(run))
    label = "100 events -> 10 waiting, SQLite WAL+FULL"
    base["rows"][label]["x_floor"] /= 1000
    (tmp_path / "base.json").write_text(json.dumps(base))
    done = _benchmarks("--smoke", "--compare", str(tmp_path / "base.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert _compare_line(done.stdout, label).rstrip().endswith("| WORSE |")
    for row in run["rows"]:
        _compare_line(done.stdout, row)
    assert re.search(rf"rows worse than 10% on x floor: .*{re.escape(label)}", done.stdout)


def test_compare_refuses_a_file_that_is_not_a_saved_run(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"rows": []}')
    done = _benchmarks("--smoke", "--compare", str(tmp_path / "other.json"))
    assert done.returncode == 2
    assert 'no "rows" object; make one with python -m benchmarks --json FILE' in done.stderr


def test_code_times_another_checkouts_engine_in_every_process(tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(ROOT / "cfwf_emulator", other / "cfwf_emulator", ignore=shutil.ignore_patterns("__pycache__"))
    marks = tmp_path / "imported.txt"
    with (other / "cfwf_emulator" / "__init__.py").open("a", encoding="utf-8") as init:
        init.write("\nimport os as _os\nopen(_os.environ['CFWF_TEST_MARK'], 'a').write(__file__ + '\\n')\n")
    out = tmp_path / "run.json"
    done = _benchmarks("--smoke", "--code", str(other), "--json", str(out),
                       env={**os.environ, "CFWF_TEST_MARK": str(marks)})
    assert done.returncode == 0, done.stderr[-3000:]
    imported = marks.read_text().splitlines()
    # only the copy writes marks: the harness, the resume row's process and the three sleepers
    # cases each imported it (through the shim's link, since removed)
    assert len(imported) >= 5 and all(path.endswith("/cfwf_emulator/__init__.py") for path in imported)
    run = json.loads(out.read_text())
    assert run["machine"]["code"] == str(other.resolve())
    assert not [label for label, row in run["rows"].items() if row.get("error")]
    assert run["plugin"] == {} and "n/a with --code" in done.stdout


def test_code_refuses_a_directory_without_the_engine(tmp_path: Path) -> None:
    done = _benchmarks("--smoke", "--code", str(tmp_path))
    assert done.returncode == 2
    assert "no cfwf_emulator/__init__.py there; give the root of a cfwf-emulator checkout" in done.stderr
