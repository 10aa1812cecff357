"""Every error ``cfwf`` reports: one line on stderr saying what is wrong and what to do, exit
status 1 (user error) or 2 (usage), no traceback unless ``--debug``."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from conftest import Project, make_project

from cfwf_emulator.store.lock import StateLock

WF = "demo-workflow"


@pytest.fixture(scope="module")
def waiting(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A project with a complete instance ``done`` and one waiting for an event, ``open``."""
    project = make_project(tmp_path_factory.mktemp("errors"))
    project.ok("workflows", "trigger", WF, "--id", "done")
    project.ok("workflows", "instances", "send-event", WF, "done", "--type", "approve")
    project.ok("workflows", "trigger", WF, "--id", "open")
    return project


def one_error(result: object, code: int = 1) -> str:
    """The single error line of a failed run (no traceback, nothing else on stderr)."""
    assert result.code == code, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("✘ [ERROR] "), result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.stderr  # type: ignore[attr-defined]
    return lines[0].removeprefix("✘ [ERROR] ")


def test_bad_json_params_and_payload(waiting: Project) -> None:
    message = one_error(waiting.run("workflows", "trigger", WF, "{bad"))
    assert message.startswith('Error while parsing instance parameters: "{bad" is not valid JSON (Expecting property name')
    assert "pass a JSON value" in message
    message = one_error(waiting.run("workflows", "instances", "send-event", WF, "open", "--type", "x", "--payload", "{bad"))
    assert message.startswith('Error while parsing event payload: "{bad" is not valid JSON')


def test_unknown_workflow_names_the_known_ones(waiting: Project) -> None:
    for command in (["workflows", "describe", "demo-workflw"], ["workflows", "instances", "list", "demo-workflw"],
                    ["workflows", "trigger", "demo-workflw"], ["workflows", "delete", "demo-workflw"]):
        message = one_error(waiting.run(*command))
        assert message == (
            "Workflow 'demo-workflw' not found (did you mean 'demo-workflow'?). Workflows of this project: demo-workflow"
        )


def test_unknown_instance(waiting: Project) -> None:
    for command in ("describe", "pause", "resume", "terminate", "restart"):
        message = one_error(waiting.run("workflows", "instances", command, WF, "no-such-instance"))
        assert message == (
            "Workflow instance 'no-such-instance' not found. List the instances with: "
            "cfwf workflows instances list demo-workflow"
        )


def test_invalid_status(waiting: Project) -> None:
    message = one_error(waiting.run("workflows", "instances", "list", WF, "--status", "bogus"))
    assert message == (
        'Looks like you have provided a invalid status "bogus". Valid statuses are: queued, running, paused, '
        "errored, terminated, complete, waiting, waitingForPause"
    )


def test_dates_out_of_order(waiting: Project) -> None:
    message = one_error(waiting.run(
        "workflows", "instances", "list", WF, "--date-start", "2026-02-01T00:00:00Z", "--date-end", "2026-01-01T00:00:00Z"
    ))
    assert message.startswith("--date-start (2026-02-01T00:00:00+00:00) must not be after --date-end")
    assert one_error(waiting.run("workflows", "instances", "list", WF, "--date-start", "yesterday")) == (
        "--date-start 'yesterday' is not an ISO 8601 date; pass e.g. 2026-01-01T00:00:00Z"
    )


def test_lifecycle_action_the_status_does_not_allow(waiting: Project) -> None:
    message = one_error(waiting.run("workflows", "instances", "terminate", WF, "done"))
    assert message == (
        "(instance.cannot_terminate) Cannot terminate instance since its on a finite state. See the instance's "
        "status with: cfwf workflows instances describe demo-workflow done"
    )
    message = one_error(waiting.run("workflows", "instances", "restart", WF, "done", "--from-step-name", "no-such-step"))
    assert message.startswith('(instance.cannot_restart) Step "no-such-step" not found in execution history.')
    message = one_error(waiting.run("workflows", "instances", "restart", WF, "done", "--from-step-count", "2"))
    assert message == "--from-step-name is required when using --from-step-count or --from-step-type"


def test_duplicate_id(waiting: Project) -> None:
    message = one_error(waiting.run("workflows", "trigger", WF, "--id", "done"))
    assert message.startswith("(instance.already_exists) ") and message.endswith("pass another --id")


def test_no_instances_for_latest(project: Project) -> None:
    message = one_error(project.run("workflows", "instances", "describe", WF))
    assert message == (
        'There are no instances in workflow "demo-workflow"; trigger one with: cfwf workflows trigger demo-workflow'
    )
    assert one_error(project.run("workflows", "instances", "delete", WF)).startswith(
        "Provide at least one workflow instance ID"
    )


def test_a_locked_state_file(waiting: Project) -> None:
    lock = StateLock(waiting.state)
    lock.acquire_now()  # as a running `cfwf dev` or a command still running would
    try:
        message = one_error(waiting.run("workflows", "trigger", WF))
        assert message.startswith(f"{waiting.state.parent} is in use by another process")
        assert "run this command again" in message
        # reads still work meanwhile
        assert len(waiting.ok("workflows", "instances", "list", WF, "--json").json()) == 2
    finally:
        lock.release()


def test_a_foreign_state_file(project: Project) -> None:
    project.state.parent.mkdir(parents=True)
    project.state.write_bytes(b"not a database, just some bytes" * 10)
    for command in (["workflows", "trigger", WF], ["workflows", "instances", "list", WF]):
        message = one_error(project.run(*command))
        assert message.startswith(f"{project.state}: this is not a cfwf-emulator state file")
        assert message.endswith("(the state directory is chosen with --persist-to DIR)")


def test_a_config_error(tmp_path: Path) -> None:
    project = make_project(tmp_path, config='{"name": "x", "main": "src/entry.py", "workflows": [{"name": 5}]}')
    message = one_error(project.run("workflows", "list"))
    assert "wrangler.jsonc" in message and "workflows" in message
    nowhere = Project(tmp_path / "empty")
    nowhere.root.mkdir()
    assert "wrangler" in one_error(nowhere.run("workflows", "list", "--config", str(tmp_path / "missing.jsonc")))


def test_usage_errors_exit_2(project: Project) -> None:
    missing = project.run("workflows", "instances", "send-event", WF, "x")  # no --type
    assert missing.code == 2 and "--type" in missing.stderr
    assert project.run("workflows", "bogus").code == 2
    assert project.run("workflows", "instances", "list", WF, "--page", "one").code == 2


def test_debug_shows_the_traceback(waiting: Project) -> None:
    result = waiting.run("workflows", "instances", "describe", WF, "no-such-instance", "--debug")
    assert result.code == 1 and "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("✘ [ERROR] Workflow instance 'no-such-instance' not found.")


def test_local_without_a_dev_session(project: Project) -> None:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    message = one_error(project.run("workflows", "list", "--local", "--port", str(port)))
    assert message.startswith(f'Could not connect to local dev session on port {port}. Make sure "cfwf dev" is running')


def test_invalid_ids_to_delete_delete_nothing(waiting: Project) -> None:
    message = one_error(waiting.run("workflows", "instances", "delete", WF, "open", "bad id!"))
    assert message.startswith("(instance.invalid_id) ") and message.endswith("Fix the ids and run the command again")
    assert len(waiting.ok("workflows", "instances", "list", WF, "--json").json()) == 2
