"""Every ``cfwf workflows`` command through the installed console script, with ``--json`` parsed
and the state carried from one invocation to the next."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONFIG, Project, make_project

WF = "demo-workflow"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """One project whose instances the read-only tests of this module share."""
    project = make_project(tmp_path_factory.mktemp("shared"))
    project.ok("workflows", "trigger", WF, '{"failTimes": 1}', "--id", "retried")
    project.ok("workflows", "trigger", WF, '{"fatal": true}', "--id", "fatal")
    project.ok("workflows", "trigger", WF, '{"secret": "s3cr3t", "fatal": true}', "--id", "secretive")
    project.ok("workflows", "trigger", WF, '{"sleep": "1 hour", "blob": "abcdefghijklmnopqrstuvwxyz"}', "--id", "sleeper")
    return project


def test_workflows_list_and_describe_read_the_config(project: Project) -> None:
    assert project.ok("workflows", "list", "--json").json() == [
        {"name": WF, "class_name": "DemoWorkflow", "script_name": "demo-service"}
    ]
    described = project.ok("workflows", "describe", WF, "--json").json()
    assert described == {
        "name": WF, "script_name": "demo-service", "class_name": "DemoWorkflow",
        "instances": dict.fromkeys(
            ["complete", "errored", "paused", "queued", "running", "terminated", "waiting", "waitingForPause"], 0
        ),
    }
    table = project.ok("workflows", "list").stdout
    assert "│ demo-workflow │ demo-service │ DemoWorkflow │" in table
    assert not project.state.exists()  # reads create no state


def test_trigger_runs_the_instance_until_it_waits_and_the_state_persists(project: Project) -> None:
    triggered = project.ok("workflows", "trigger", WF, '{"failTimes": 1}', "--id", "cli-1")
    first, status = triggered.stdout.splitlines()
    assert first == '🚀 Workflow instance "cli-1" has been triggered successfully'
    assert re.fullmatch(r'Status: ⏰ Waiting for an event of type "approve" \(approval-1\) until .* [AP]M', status)
    details = project.ok("workflows", "instances", "describe", WF, "cli-1", "--json").json()
    assert details["id"] == "cli-1" and details["status"] == "waiting" and details["params"] == {"failTimes": 1}
    flaky, approval = details["steps"]
    assert (flaky["name"], flaky["type"], flaky["success"], flaky["output"]["attempts"]) == ("flaky-1", "step", True, 2)
    assert [attempt["success"] for attempt in flaky["attempts"]] == [False, True]
    assert flaky["attempts"][0]["error"] == {"name": "RuntimeError", "message": "flaky failure #1"}
    assert (approval["name"], approval["type"], approval["finished"]) == ("approval-1", "waitForEvent", False)
    sent = project.ok("workflows", "instances", "send-event", WF, "cli-1", "--type", "approve", "--payload", '{"ok":true}')
    assert sent.stdout.strip() == (
        '📤 The event with type "approve" and payload "{"ok":true}" was sent to the instance "cli-1" from demo-workflow'
    )
    final = project.ok("workflows", "instances", "describe", WF, "cli-1", "--json").json()
    assert final["status"] == "complete" and final["output"] == {"attempts": 2, "approved": {"ok": True}}
    event = final["steps"][1]["output"]
    assert (event["type"], event["payload"]) == ("approve", {"ok": True})


def test_trigger_json_and_a_generated_id(project: Project) -> None:
    created = project.ok("workflows", "trigger", WF, "--json").json()
    assert list(created) == ["id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", created["id"])
    listed = project.ok("workflows", "instances", "list", WF, "--json").json()
    assert [item["id"] for item in listed] == [created["id"]]


def test_instances_list_pages_filters_and_reverses(shared: Project) -> None:
    newest_first = shared.ok("workflows", "instances", "list", WF, "--json").json()
    assert [item["id"] for item in newest_first] == ["sleeper", "secretive", "fatal", "retried"]
    assert set(newest_first[0]) == {"id", "status", "created_on"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", newest_first[0]["created_on"])
    reverse = shared.ok("workflows", "instances", "list", WF, "--reverse", "--json").json()
    assert reverse == newest_first[::-1]
    page = shared.ok("workflows", "instances", "list", WF, "--per-page", "1", "--page", "2", "--json").json()
    assert [item["id"] for item in page] == ["secretive"]
    errored = shared.ok("workflows", "instances", "list", WF, "--status", "errored", "--json").json()
    assert [(item["id"], item["status"]) for item in errored] == [("secretive", "errored"), ("fatal", "errored")]
    table = shared.ok("workflows", "instances", "list", WF).stdout
    assert table.startswith("Showing 4 instances from page 1:\n┌")
    assert re.search(r"│ fatal +│ \d+/\d+/\d{4}, \d+:\d\d:\d\d [AP]M │ ❌ Errored +│", table)


def test_instances_list_says_when_nothing_matches(shared: Project, project: Project) -> None:
    empty = project.ok("workflows", "instances", "list", WF)
    assert empty.stdout == ""
    assert empty.stderr.strip() == (
        '▲ [WARNING] There are no instances in workflow "demo-workflow". You can trigger it with '
        '"cfwf workflows trigger demo-workflow"'
    )
    assert project.ok("workflows", "instances", "list", WF, "--json").json() == []
    none = shared.ok("workflows", "instances", "list", WF, "--status", "paused")
    assert "No instances in workflow \"demo-workflow\" matched the provided filters." in none.stderr
    far = shared.ok("workflows", "instances", "list", WF, "--page", "99", "--per-page", "2")
    assert "No instances found on page 99. Please try a smaller page number." in far.stderr
    future = shared.ok("workflows", "instances", "list", WF, "--date-start", "2999-01-01T00:00:00Z", "--json")
    assert future.json() == []
    past = shared.ok("workflows", "instances", "list", WF, "--date-end", "2999-01-01T00:00:00Z", "--json").json()
    assert len(past) == 4


def test_describe_shows_a_readable_timeline(shared: Project) -> None:
    shown = shared.ok("workflows", "instances", "describe", WF, "fatal").stdout
    lines = shown.splitlines()
    assert lines[:3] == ["Describing latest instance:", "Workflow Name:         demo-workflow", "Instance Id:           fatal"]
    assert "Status:                ❌ Errored" in lines
    assert "Last Successful Step:  flaky-1" in lines
    assert any(line.startswith("Error:                 WorkflowFatalError: ") for line in lines)
    assert "  Name:      charge-1" in lines and "  Success:   ❌ No" in lines
    assert any(re.fullmatch(r"│ .* │ ❌ Error +│ NonRetryableError: card declined +│", line) for line in lines)
    assert "  Traceback of the failing attempt:" in lines
    assert any(re.fullmatch(r'      File "src/entry.py", line \d+, in charge', line) for line in lines)
    assert '        raise NonRetryableError("card declined")' in lines
    retried = shared.ok("workflows", "instances", "describe", WF, "retried").stdout
    assert "RuntimeError: flaky failure #1" in retried and "✅ Success" in retried
    assert re.search(r"^  Type: +👀 Waiting for event$", retried, re.MULTILINE)
    assert re.search(r"^  Event Type: +approve$", retried, re.MULTILINE)
    assert re.search(r"^  Times Out At: +\d+/\d+/\d{4}, .* [AP]M$", retried, re.MULTILINE)


def test_describe_truncates_or_hides_outputs_and_defaults_to_latest(shared: Project) -> None:
    latest = shared.ok("workflows", "instances", "describe", WF, "--truncate-output-limit", "20").stdout
    assert "Instance Id:           sleeper" in latest
    assert '  Output:    {"attempts":1,"blob"[...output truncated]' in latest
    assert "  Type:      💤 Sleeping" in latest
    for flag in ("--no-step-output", "--step-output=false"):
        hidden = shared.ok("workflows", "instances", "describe", WF, "sleeper", flag).stdout
        assert "Output:" not in hidden and "  Name:      flaky-1" in hidden
    assert shared.ok("workflows", "instances", "describe", WF, "latest", "--json").json()["id"] == "sleeper"


def test_lifecycle_commands_print_status_and_timestamp(project: Project) -> None:
    project.ok("workflows", "trigger", WF, '{"sleep": "1 hour"}', "--id", "life")
    paused = project.ok("workflows", "instances", "pause", WF, "life", "--json").json()
    assert paused["status"] == "paused" and re.fullmatch(r".*T.*\.\d{3}Z", paused["timestamp"])
    resumed = project.ok("workflows", "instances", "resume", WF, "life")
    assert resumed.stdout.strip() == '🔄 The instance "life" from demo-workflow was resumed successfully'
    assert project.ok("workflows", "instances", "describe", WF, "life", "--json").json()["status"] == "waiting"
    terminated = project.ok("workflows", "instances", "terminate", WF, "life", "--rollback", "--json").json()
    assert terminated["status"] == "terminated"
    restarted = project.ok(
        "workflows", "instances", "restart", WF, "life", "--from-step-name", "nap", "--from-step-type", "sleep", "--json"
    ).json()
    assert restarted["status"] == "waiting"
    steps = project.ok("workflows", "instances", "describe", WF, "life", "--json").json()["steps"]
    assert [(step["name"], step["type"]) for step in steps] == [("flaky-1", "step"), ("nap-1", "sleep")]


def test_restart_from_a_step_keeps_the_steps_before_it(project: Project) -> None:
    project.ok("workflows", "trigger", WF, '{"fatal": true}', "--id", "again")
    before = project.ok("workflows", "instances", "describe", WF, "again", "--json").json()["steps"][0]
    project.ok("workflows", "instances", "restart", WF, "again", "--from-step-name", "charge")
    after = project.ok("workflows", "instances", "describe", WF, "again", "--json").json()
    assert after["status"] == "errored"
    assert after["steps"][0] == before  # flaky-1 kept, not rerun
    assert after["steps"][1]["name"] == "charge-1"


def test_instances_delete_reports_deleted_and_missing_ids(project: Project) -> None:
    for instance_id in ("d1", "d2", "d3"):
        project.ok("workflows", "trigger", WF, "--id", instance_id)
    deleted = project.run("workflows", "instances", "delete", WF, "d1", "never-existed", "--json")
    assert deleted.code == 1
    assert json.loads(deleted.stdout) == {
        "deleted": [{"id": "d1"}],
        "errors": [{"id": "never-existed", "code": 10400, "message": "workflows.api.error.instance.not_found"}],
    }
    assert "Failed to delete 1 workflow instance(s): never-existed: workflows.api.error.instance.not_found" in deleted.stderr
    listed = project.root / "ids.json"
    listed.write_text('["d1"]')
    again = project.run("workflows", "instances", "delete", WF, "--filename", str(listed), "--json")
    assert again.code == 1 and json.loads(again.stdout)["errors"][0]["id"] == "d1"  # deleted above
    latest = project.ok("workflows", "instances", "delete", WF, "latest")
    assert latest.stdout.splitlines() == ['Latest instance is "d3"', '🗑️  Deleted workflow instances from "demo-workflow": "d3"']
    assert [item["id"] for item in project.ok("workflows", "instances", "list", WF, "--json").json()] == ["d2"]


def test_terminate_all_and_workflows_delete(project: Project) -> None:
    project.ok("workflows", "trigger", WF, '{"fatal": true}', "--id", "t-done")
    project.ok("workflows", "trigger", WF, "--id", "t-1")
    project.ok("workflows", "trigger", WF, "--id", "t-2")
    stopped = project.ok("workflows", "instances", "terminate-all", WF, "--json").json()
    assert sorted(item["id"] for item in stopped["terminated"]) == ["t-1", "t-2"]
    counts = project.ok("workflows", "describe", WF, "--json").json()["instances"]
    assert (counts["terminated"], counts["errored"]) == (2, 1)
    assert project.ok("workflows", "delete", WF, "--json").json() == {"status": "ok", "success": True}
    assert project.ok("workflows", "instances", "list", WF, "--json").json() == []
    assert project.ok("workflows", "list", "--json").json()[0]["name"] == WF  # still configured


def test_python_dash_m_runs_the_same_command_line(project: Project) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cfwf_emulator", "workflows", "list", "--json"],
        cwd=project.root, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert '"script_name": "demo-service"' in done.stdout


def test_config_and_persist_to_from_another_directory(project: Project, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state = tmp_path / "state-dir"
    created = project.run(
        "workflows", "trigger", WF, "--id", "far", "--config", str(project.root / "wrangler.jsonc"),
        "--persist-to", str(state), "--json", cwd=elsewhere,
    )
    assert created.code == 0, created.stderr
    assert (state / "workflows.sqlite3").exists() and not project.state.exists()
    nested = project.root / "src"
    listed = project.run("workflows", "instances", "list", WF, "--persist-to", str(state), "--json", cwd=nested)
    assert [item["id"] for item in listed.json()] == ["far"]  # config found upward from src/


def test_env_selects_an_environment_of_the_config(tmp_path: Path) -> None:
    staged = CONFIG.replace(
        '  "workflows": [',
        '  "env": {"staging": {"workflows": [{"name": "staged", "binding": "DEMO", "class_name": "DemoWorkflow"}]}},\n'
        '  "workflows": [',
    )
    project = make_project(tmp_path, config=staged)
    assert project.ok("workflows", "list", "--env", "staging", "--json").json() == [
        {"name": "staged", "class_name": "DemoWorkflow", "script_name": "demo-service-staging"}
    ]
    assert [item["name"] for item in project.ok("workflows", "list", "--json").json()] == [WF]


def test_sensitive_outputs_are_redacted(shared: Project) -> None:
    shown = shared.ok("workflows", "instances", "describe", WF, "secretive").stdout
    assert re.search(r"^  Name: +secret-1\n(.*\n)*?  Output: +\[REDACTED\]$", shown, re.MULTILINE)
    assert "s3cr3t" not in shown
    details = shared.ok("workflows", "instances", "describe", WF, "secretive", "--json").json()
    assert details["steps"][1]["output"] == "[REDACTED]" and "s3cr3t" not in json.dumps(details["steps"])
    assert "cfwf" not in details and all("cfwf" not in step for step in details["steps"])  # wrangler's keys only
