"""Beyond wrangler: ``cfwf check`` (the rules checker), ``instances export`` and ``cfwf replay``."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import DEMO, Project, make_project

WF = "demo-workflow"

RANDOM_NAMES = '''
import random
from workers import WorkflowEntrypoint


class DemoWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do(f"fetch {random.randint(0, 10**9)}")
        async def fetch():
            return 1

        return await fetch()
'''


CLEAN = '''
from workers import WorkflowEntrypoint


class DemoWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("fetch")
        async def fetch():
            return {"order": event["payload"]["order"]}

        order = await fetch()
        await step.sleep("cool off", "1 hour")
        approval = await step.wait_for_event("approval", "approve", timeout="1 hour")
        return {"order": order, "approved": approval["payload"]}
'''


def test_check_passes_a_workflow_that_follows_the_rules(tmp_path: Path) -> None:
    project = make_project(tmp_path, source=CLEAN)
    result = project.run("check", "--event", 'approve={"ok": true}', "--params", '{"order": 7}')
    assert result.code == 0, result.stderr
    assert "Rules of Workflows check of DemoWorkflow: no violations" in result.stdout
    assert not project.state.exists()  # the check runs on its own emulators, not the project's state


def test_check_fails_on_a_violation_and_prints_the_fix(tmp_path: Path) -> None:
    project = make_project(tmp_path, source=RANDOM_NAMES)
    result = project.run("check", WF)
    assert result.code == 1
    assert "[deterministic-step-names] Step names must be deterministic" in result.stdout
    assert "fix:" in result.stdout
    # the demo's flaky step returns its attempt number: a retry changes what later steps see
    demo = make_project(tmp_path / "demo").run("check", "--event", "approve=true")
    assert demo.code == 1 and "[idempotent-steps] Steps must be safe to run more than once" in demo.stdout
    assert result.stderr == "✘ [ERROR] 1 violation(s) of the Rules of Workflows; fix each as its 'fix:' line says\n"


def test_check_argument_errors(project: Project) -> None:
    unknown = project.run("check", "other-workflow")
    assert unknown.code == 1 and "Workflow 'other-workflow' not found" in unknown.stderr
    bad_event = project.run("check", "--event", "approve")
    assert bad_event.code == 1 and "write it as TYPE=JSON" in bad_event.stderr


def test_export_then_replay_agrees_and_then_finds_the_first_difference(project: Project, tmp_path: Path) -> None:
    project.ok("workflows", "trigger", WF, '{"failTimes": 1, "sleep": "1 second"}', "--id", "kept")
    journal_file = tmp_path / "kept.json"
    project.ok("workflows", "instances", "send-event", WF, "kept", "--type", "approve", "--payload", '{"ok": true}')
    # the nap is still due: finish it with a restart from the wait, which keeps the earlier steps
    exported = project.ok("workflows", "instances", "export", WF, "kept", "-o", str(journal_file))
    assert str(journal_file) in exported.stdout
    journal = json.loads(journal_file.read_text())
    assert journal["format"] == "cfwf-journal/1" and journal["id"] == "kept"
    assert [(s["type"], s["name"], s["count"]) for s in journal["steps"]][:2] == [("do", "flaky", 1), ("sleep", "nap", 1)]
    assert journal["steps"][0]["result"]["attempts"] == 2

    agreed = project.run("replay", str(journal_file))
    assert agreed.code == 0, agreed.stderr
    assert agreed.stdout.startswith("✅ demo-workflow/kept: the current code replays the journal")

    (project.root / "src" / "entry.py").write_text(DEMO.replace('step.sleep("nap"', 'step.sleep("rest"'))
    differs = project.run("replay", str(journal_file))
    assert differs.code == 1
    assert differs.stdout.strip() == (
        '❌ demo-workflow/kept: step 2: the journal has step.sleep("nap"), the current code calls step.sleep("rest")'
    )
    assert differs.stderr.startswith("✘ [ERROR] the current code does not replay ")


def test_replay_reports_a_changed_output_shape(project: Project, tmp_path: Path) -> None:
    project.ok("workflows", "trigger", WF, "--id", "shape")
    project.ok("workflows", "instances", "send-event", WF, "shape", "--type", "approve", "--payload", "true")
    journal_file = tmp_path / "shape.json"
    journal_file.write_text(project.ok("workflows", "instances", "export", WF, "shape").stdout)
    assert json.loads(journal_file.read_text())["status"] == "complete"
    changed = DEMO.replace('"approved": approval["payload"]', '"approved": str(approval["payload"])')
    (project.root / "src" / "entry.py").write_text(changed)
    differs = project.run("replay", str(journal_file))
    assert differs.code == 1
    assert "the output's shape differs" in differs.stdout and "'approved': 'bool'" in differs.stdout


def test_replay_refuses_a_file_that_is_not_a_journal(project: Project, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    result = project.run("replay", str(other))
    assert result.code == 1
    assert "is not a journal written by `cfwf workflows instances export` (cfwf-journal/1)" in result.stderr
