"""The pytest plugin's costs: per-test overhead of the ``cfwf`` fixture, and import time.

Per-test time is the sum of pytest's own setup, call and teardown durations of each test (its
reports, written out by a small conftest), so interpreter start and collection are left out; the median test is the steady cost, and the
first test's time (which pays the one-time imports) is shown beside it. Three files of ``tests`` tests each run in their
own pytest process: no fixture (the floor), a test taking ``cfwf``, and an ``async def`` test
taking ``cfwf`` that creates and finishes a one-step instance.

Import time is measured in a fresh interpreter that has already imported pytest (as it has when
pytest loads the plugin); the baseline is importing pytest itself in a fresh interpreter.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import json
from pathlib import Path

DURATIONS_CONFTEST = '''
import json

DURATIONS = {}


def pytest_runtest_logreport(report):
    DURATIONS[report.nodeid] = DURATIONS.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    with open("durations.json", "w") as out:
        json.dump(list(DURATIONS.values()), out)
'''

TEST_FILES = {
    "bare": '''
import pytest

@pytest.mark.parametrize("index", range({tests}))
def test_bare(index):
    assert index >= 0
''',
    "cfwf": '''
import pytest

@pytest.mark.parametrize("index", range({tests}))
def test_cfwf(cfwf, index):
    assert cfwf.env is not None
''',
    "cfwf_async": '''
import pytest
from cfwf_emulator import WorkflowEntrypoint

class OneStep(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("one")
        async def one():
            return 1

        return await one()

@pytest.mark.parametrize("index", range({tests}))
async def test_cfwf_async(cfwf, index):
    cfwf.add_workflow("one", OneStep, binding="ONE")
    instance = await cfwf.env.ONE.create()
    await cfwf.run_until_idle()
    assert (await instance.status())["status"] == "complete"
''',
}


def per_test_ms(kind: str, tests: int) -> tuple[float, float]:
    """(median, first) milliseconds per test (setup + call + teardown) of the ``kind`` test file.

    The first test of a process also pays one-time imports; the median is the steady cost.
    """
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / f"test_{kind}.py").write_text(TEST_FILES[kind].replace("{tests}", str(tests)))
        (root / "conftest.py").write_text(DURATIONS_CONFTEST)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(root), str(root)],
            capture_output=True, text=True, check=False, cwd=root,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pytest run of {kind} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        times = json.loads((root / "durations.json").read_text())
    assert len(times) == tests, (kind, len(times))
    return 1000 * statistics.median(times), 1000 * times[0]


_IMPORT = (
    "import time{before}\n"
    "began = time.perf_counter()\n"
    "import {module}\n"
    "print(time.perf_counter() - began)\n"
)


def import_ms(module: str, after: str = "") -> float:
    """Milliseconds to import ``module`` in a fresh interpreter that has imported ``after``."""
    code = _IMPORT.format(before=f"\nimport {after}" if after else "", module=module)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return 1000 * float(done.stdout)
