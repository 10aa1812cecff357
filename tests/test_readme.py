"""Every code block in README.md runs as written.

Python blocks run in order, in one namespace (a later block may use a class an earlier one
defined), in a fresh interpreter whose working directory holds a copy of the example project.
The README's example test must be the file the suite runs. The quick-start commands must be the
ones CI runs, the demo's sample output must be what the demo prints, and the benchmark command's
options must exist.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text(encoding="utf-8")) if lang == language]


def test_the_readme_has_the_blocks_this_test_knows() -> None:
    assert len(blocks("python")) >= 6 and len(blocks("bash")) == 2


def test_every_python_block_runs(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "cfwf_emulator" / "examples" / "project", tmp_path / "cfwf_emulator" / "examples" / "project")
    example_test = (ROOT / "tests" / "examples" / "test_readme_example.py").read_text(encoding="utf-8")
    script = []
    for number, body in enumerate(blocks("python"), 1):
        if body == example_test:
            continue  # the example test file itself: the suite runs it (tests/examples)
        script.append(f"print('--- block {number}', flush=True)\n{body}")
    result = subprocess.run(
        [sys.executable, "-P", "-c", "\n".join(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    # the Hosting block's instance completes after its event (no timeout first)
    assert "{'status': 'complete', 'output': {'order': {'id': 7}, 'charge': {'charge_id': 'ch_7'}, 'approved': True}}" in result.stdout


def test_the_readme_example_test_is_the_file_the_suite_runs() -> None:
    example_test = (ROOT / "tests" / "examples" / "test_readme_example.py").read_text(encoding="utf-8")
    assert example_test in blocks("python")


def test_the_quick_start_commands_are_what_ci_runs() -> None:
    quick_start = blocks("bash")[0]
    commands = [line for line in quick_start.splitlines() if line and not line.startswith("#")]
    assert commands == ["pip install . && python -m cfwf_emulator.demo", 'pip install -e ".[dev]" && python -m pytest']
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install --quiet -e ".[dev]"' in ci
    assert "python -m cfwf_emulator.demo" in ci and "python -m pytest" in ci


def test_the_demo_prints_the_sample_output() -> None:
    sample = next(body for lang, body in FENCE.findall(README.read_text(encoding="utf-8")) if lang == "" and "order-7" in body)
    result = subprocess.run([sys.executable, "-m", "cfwf_emulator.demo"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    for line in sample.splitlines():
        if line == "...":
            continue
        if line.startswith("+02:00:00.000 of workflow time in"):
            assert any(re.fullmatch(r"\+02:00:00\.000 of workflow time in \d+\.\d+ s of real time", p) for p in printed)
        else:
            assert line in printed


@pytest.mark.parametrize("flag", ["--repeat", "--no-peers", "--smoke"])
def test_the_benchmark_options_exist(flag: str) -> None:
    assert flag in blocks("bash")[1]
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert flag in result.stdout
