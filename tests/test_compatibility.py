"""Compatibility flags are the ones workerd knows, checked as workerd checks them.

Contract: README "Fidelity"; spec python-workflows-api.md §1.2 (flags), workerd
``src/workerd/io/compatibility-date.c++`` (``compileCompatibilityFlags``: its error texts) and
``compatibility-date.capnp`` (flag names, default dates, ``$impliedByAfterDate``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from cfwf_emulator import ConfigError, ConfigWarning, Emulator, NonRetryableError, VirtualClock, WorkflowEntrypoint

START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z
GENERIC = (
    "The execution of the Workflow instance was terminated, as a step threw an NonRetryableError "
    "and it was not handled"
)


class Declines(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("charge")
        def fail():
            raise NonRetryableError("card declined")

        await fail()


ENTRY = """
from workers import WorkflowEntrypoint


class Echo(WorkflowEntrypoint):
    async def run(self, event, step):
        return event["payload"]
"""


def write_project(root: Path, date: str, flags: list[str]) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "entry.py").write_text(ENTRY)
    config = {
        "name": "p",
        "main": "src/entry.py",
        "compatibility_date": date,
        "compatibility_flags": flags,
        "workflows": [{"name": "echo", "binding": "ECHO", "class_name": "Echo"}],
    }
    path = root / "wrangler.jsonc"
    path.write_text(json.dumps(config, indent=2))
    return path


async def status_of(emu: Emulator) -> dict:
    emu.add_workflow("wf", Declines, binding="WF")
    async with emu:
        inst = await emu.env.WF.create(id="i1")
        await emu.run_until_idle()
        return await inst.status()


# -- the NonRetryableError opt-out --------------------------------------------------------------


async def test_replace_flag_brings_back_the_generic_non_retryable_message() -> None:
    emu = Emulator(
        clock=VirtualClock(START_MS),
        compatibility_date="2026-06-01",
        compatibility_flags=["workflows_replace_non_retryable_error_message"],
    )
    status = await status_of(emu)
    assert status["error"] == {"name": "WorkflowFatalError", "message": GENERIC}


def test_the_emulators_old_opt_out_name_is_refused_and_names_the_real_one() -> None:
    with pytest.raises(ConfigError) as caught:
        Emulator(compatibility_flags=["no_workflows_preserve_non_retryable_error_message"])
    message = str(caught.value)
    assert "No such compatibility flag: no_workflows_preserve_non_retryable_error_message" in message
    assert '"workflows_replace_non_retryable_error_message"' in message


def test_config_with_an_unknown_flag_names_the_file_the_key_and_the_fix(tmp_path: Path) -> None:
    path = write_project(tmp_path, "2026-06-01", ["python_workers", "no_workflows_preserve_non_retryable_error_message"])
    with pytest.raises(ConfigError) as caught:
        Emulator.from_config(path)
    message = str(caught.value)
    assert "wrangler.jsonc:" in message
    assert "compatibility_flags[1]: No such compatibility flag: no_workflows_preserve_non_retryable_error_message;" in message
    assert 'the flag that turns "workflows_preserve_non_retryable_error_message" off is ' in message


# -- what workerd refuses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "text", "fix"),
    [
        (["python_workflow"], "No such compatibility flag: python_workflow", "did you mean 'python_workflows'"),
        (
            ["python_workflows", "disable_python_workflows"],
            "Compatibility flags are mutually contradictory: python_workflows vs disable_python_workflows",
            "keep only one",
        ),
        (["python_workers", "python_workers"], "Compatibility flag specified multiple times: python_workers", "list it once"),
        (
            ["workflows_step_rollback"],
            "The compatibility flag workflows_step_rollback is experimental and cannot yet be used in Workers "
            "deployed to Cloudflare.",
            "remove it",
        ),
    ],
    ids=["misspelt", "contradictory", "twice", "experimental"],
)
def test_flags_workerd_refuses_are_refused_with_its_text(flags: list[str], text: str, fix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Emulator(compatibility_date="2026-03-01", compatibility_flags=flags)
    assert text in str(caught.value)
    assert fix in str(caught.value)
    emu = Emulator()
    with pytest.raises(ConfigError, match="compatibility_flags: "):
        emu.add_workflow("wf", Declines, compatibility_flags=flags)


def test_a_flag_the_date_already_enables_is_only_a_warning(tmp_path: Path) -> None:
    path = write_project(
        tmp_path, "2026-06-01",
        ["python_workers", "workflows_preserve_non_retryable_error_message", "r2_public_beta_bindings"],
    )
    with pytest.warns(ConfigWarning) as caught:
        emu = Emulator.from_config(path)
    messages = [str(w.message) for w in caught]
    for text in (
        "compatibility_flags[1]: The compatibility flag workflows_preserve_non_retryable_error_message became "
        "the default as of 2026-05-14 so does not need to be specified anymore. (remove it)",
        "compatibility_flags[2]: The compatibility flag r2_public_beta_bindings is the default, so does not "
        "need to be specified anymore. (remove it)",
    ):
        assert any(text in message for message in messages), messages
    assert emu.compatibility.preserve_non_retryable


def test_flags_the_emulator_does_not_model_are_accepted() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emu = Emulator(compatibility_date="2026-03-01", compatibility_flags=["nodejs_compat", "python_workers"])
    assert emu.compatibility.flags == ("nodejs_compat", "python_workers")


# -- python_workflows ---------------------------------------------------------------------------


def test_python_workflows_is_implied_from_2025_09_20() -> None:
    Emulator(compatibility_date="2025-09-20").add_workflow("wf", Declines)
    Emulator(compatibility_date="2025-09-19", compatibility_flags=["python_workflows"]).add_workflow("wf", Declines)


def test_a_python_workflow_before_2025_09_20_needs_the_flag() -> None:
    emu = Emulator(compatibility_date="2025-09-19")
    with pytest.raises(ConfigError) as caught:
        emu.add_workflow("wf", Declines)
    message = str(caught.value)
    assert 'need the "python_workflows" compatibility flag' in message
    assert "2025-09-19" in message
    assert 'add "python_workflows" to compatibility_flags' in message
    assert "WF" not in emu.env


def test_disable_python_workflows_turns_them_off() -> None:
    emu = Emulator(compatibility_date="2026-03-01", compatibility_flags=["disable_python_workflows"])
    with pytest.raises(ConfigError, match='"disable_python_workflows", which turns Python Workflows off; remove it'):
        emu.add_workflow("wf", Declines)


def test_config_before_2025_09_20_without_the_flag_names_the_file_and_the_date(tmp_path: Path) -> None:
    path = write_project(tmp_path, "2025-06-01", ["python_workers"])
    with pytest.raises(ConfigError) as caught:
        Emulator.from_config(path)
    message = str(caught.value)
    assert "wrangler.jsonc:4:3: compatibility_date: " in message
    assert 'add "python_workflows" to compatibility_flags' in message
    write_project(tmp_path, "2025-06-01", ["python_workers", "python_workflows"])
    assert "ECHO" in Emulator.from_config(path).env
