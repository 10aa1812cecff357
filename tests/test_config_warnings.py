"""Non-fatal config findings reach the user as ``ConfigWarning``s, not only ``project.warnings``.

Contract: API.md §2 (from_config), §4 (pytest plugin); spec cloudflare-workflows.md §5.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import cfwf_emulator
from cfwf_emulator import ConfigWarning, Emulator

pytest_plugins = ["pytester"]

ENTRY = """
from workers import WorkflowEntrypoint


class Echo(WorkflowEntrypoint):
    async def run(self, event, step):
        return event["payload"]
"""

CLEAN = """{
  "name": "p",
  "main": "src/entry.py",
  "compatibility_date": "2026-03-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [{"name": "echo", "binding": "ECHO", "class_name": "Echo"}]
}
"""

# (label, config text, the key the warning names, words from the warning)
FINDINGS = [
    ("unknown-top-level-key", CLEAN.replace('"name": "p",', '"name": "p",\n  "workflow": [],'),
     "wrangler.jsonc:3:3: workflow:", 'unexpected field "workflow"'),
    ("steps-above-maximum", CLEAN.replace('"class_name": "Echo"', '"class_name": "Echo", "limits": {"steps": 30000}'),
     "workflows[0].limits.steps:", "exceeds the production maximum of 25,000"),
    ("missing-python-workers-flag", CLEAN.replace('["python_workers"]', "[]"),
     "compatibility_flags:", 'requires the "python_workers" compatibility flag'),
]


def write_project(root: Path, config: str) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "entry.py").write_text(ENTRY)
    path = root / "wrangler.jsonc"
    path.write_text(config)
    return path


def test_config_warning_is_public_and_a_user_warning() -> None:
    assert cfwf_emulator.ConfigWarning is ConfigWarning
    assert "ConfigWarning" in cfwf_emulator.__all__
    assert issubclass(ConfigWarning, UserWarning)


@pytest.mark.parametrize(("config", "key", "words"), [f[1:] for f in FINDINGS], ids=[f[0] for f in FINDINGS])
def test_from_config_emits_each_finding_as_a_config_warning(tmp_path: Path, config: str, key: str, words: str) -> None:
    path = write_project(tmp_path, config)
    with pytest.warns(ConfigWarning) as record:
        emu = Emulator.from_config(path)
    messages = [str(w.message) for w in record if w.category is ConfigWarning]
    assert len(messages) == 1, messages
    assert messages[0].startswith(str(path)) or messages[0].startswith("wrangler.jsonc")
    assert key in messages[0] and words in messages[0]
    assert record[0].filename == __file__  # attributed to the caller of from_config
    assert emu.project.warnings == (messages[0],)


def test_several_findings_each_warn_once(tmp_path: Path) -> None:
    config = FINDINGS[0][1].replace('"class_name": "Echo"', '"class_name": "Echo", "limits": {"steps": 30000}')
    path = write_project(tmp_path, config)
    with pytest.warns(ConfigWarning) as record:
        Emulator.from_config(path)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2 and len(set(messages)) == 2
    assert any("workflow:" in m for m in messages) and any("limits.steps" in m for m in messages)


def test_a_clean_config_warns_nothing(tmp_path: Path) -> None:
    path = write_project(tmp_path, CLEAN)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)
        emu = Emulator.from_config(path)
    assert emu.project.warnings == ()


def test_an_error_filter_turns_config_warnings_into_errors(tmp_path: Path) -> None:
    path = write_project(tmp_path, FINDINGS[0][1])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=ConfigWarning)
        with pytest.raises(ConfigWarning, match='unexpected field "workflow"'):
            Emulator.from_config(path)


USER_TEST = """
async def test_echo(cfwf):
    inst = await cfwf.env.ECHO.create(id="e-1", params=7)
    await cfwf.run_until_idle()
    assert (await inst.status())["output"] == 7
"""


def test_plugin_shows_config_warnings_in_the_warnings_summary(pytester: pytest.Pytester) -> None:
    write_project(pytester.path, FINDINGS[0][1])
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest("-p", "no:asyncio")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*warnings summary*", '*ConfigWarning: wrangler.jsonc:3:3: workflow: unexpected field "workflow"*'])


def test_plugin_with_w_error_fails_the_test_on_a_config_warning(pytester: pytest.Pytester) -> None:
    write_project(pytester.path, FINDINGS[0][1])
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest("-p", "no:asyncio", "-W", "error::cfwf_emulator.ConfigWarning")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(['*ConfigWarning: wrangler.jsonc:3:3: workflow: unexpected field "workflow"*'])


def test_plugin_with_a_clean_config_shows_no_warning(pytester: pytest.Pytester) -> None:
    write_project(pytester.path, CLEAN)
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest("-p", "no:asyncio")
    result.assert_outcomes(passed=1, warnings=0)
