"""Side by side with wrangler: every ``wrangler workflows ... --local --json`` transcript recorded
from wrangler 4.164 against ``wrangler dev`` (tests/data/wrangler-4.164-workflows-json.json, taken
from the project's CLI spec) is replayed as the same ``cfwf`` command in the same session order,
and the JSON printed must have the same keys and the same value types.

Values differ by nature (ids, times) and so do some states (wrangler dev
reports ``running`` where the emulator says ``waiting``), so a ``null`` on either side matches any
type; lists are compared element by element against the recorded elements (step lists by step
``type``). What belongs to the workflow itself (``params``, a step's or the instance's ``output``,
an event's ``payload``) differs between the two demo workflows and is not compared inside.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Project, make_project

RECORDED = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "wrangler-4.164-workflows-json.json").read_text(encoding="utf-8")
)["transcripts"]
WF = "demo-workflow"


def differences(ours: Any, theirs: Any, path: str = "$") -> list[str]:
    """Where the two JSON values differ in keys or value types (see the module docstring)."""
    if ours is None or theirs is None:
        return []
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: {type(ours).__name__}, wrangler has an object"]
        found = [f"{path}: keys {sorted(ours)} != wrangler's {sorted(theirs)}"] if set(ours) != set(theirs) else []
        for key in set(ours) & set(theirs):
            if key in ("params", "payload") or (key == "output" and ours.get("type") != "waitForEvent"):
                continue  # the workflow's own data: what the demo workflows pass and return differs
            found += differences(ours[key], theirs[key], f"{path}.{key}")
        return found
    if isinstance(theirs, list):
        if not isinstance(ours, list):
            return [f"{path}: {type(ours).__name__}, wrangler has an array"]
        found = []
        for index, item in enumerate(ours):
            peers = [peer for peer in theirs if not isinstance(item, dict) or peer.get("type") == item.get("type")]
            if peers:
                found += differences(item, peers[0], f"{path}[{index}]")
        return found
    number = (int, float)
    if path.endswith((".delay", ".timeout")) and isinstance(ours, (*number, str)):
        return []  # a step config's durations are a number of ms or a string, as the workflow wrote them
    same = isinstance(ours, number) and isinstance(theirs, number) and not isinstance(ours, bool) and not isinstance(theirs, bool)
    if not same and type(ours) is not type(theirs):
        return [f"{path}: {type(ours).__name__}, wrangler has {type(theirs).__name__}"]
    return []


def test_the_comparison_sees_differences() -> None:
    assert differences({"a": 1}, {"a": 1, "b": 2}) == ["$: keys ['a'] != wrangler's ['a', 'b']"]
    assert differences([{"type": "sleep", "end": 1}], [{"type": "step"}, {"type": "sleep", "end": "x"}]) == [
        "$[0].end: int, wrangler has str"
    ]
    assert differences({"output": {"a": 1}, "params": 1}, {"output": {"b": 1}, "params": "x"}) == []
    assert differences({"type": "waitForEvent", "output": {"a": 1}}, {"type": "waitForEvent", "output": {"b": 1}})


# (title of the recorded transcript, the cfwf arguments, the exit status) in the recorded session's order
SESSION: list[tuple[str | None, list[str], int]] = [
    ("list --json", ["workflows", "list", "--json"], 0),
    ("describe --json", ["workflows", "describe", WF, "--json"], 0),
    ("instances list --json (empty)", ["workflows", "instances", "list", WF, "--json"], 0),
    (None, ["workflows", "trigger", WF, '{"failTimes":0,"sleep":"1 hour"}', "--id", "cli-1"], 0),
    ("trigger --json", ["workflows", "trigger", WF, '{"failTimes":0,"sleep":"1 hour"}', "--id", "cli-2", "--json"], 0),
    (None, ["workflows", "trigger", WF], 0),
    (None, ["workflows", "trigger", WF, '{"failTimes":1}', "--id", "cli-3"], 0),
    ("instances list --json", ["workflows", "instances", "list", WF, "--json"], 0),
    ("instances list --reverse --json", ["workflows", "instances", "list", WF, "--reverse", "--json"], 0),
    ("instances list --per-page 1 --page 2 --json",
     ["workflows", "instances", "list", WF, "--per-page", "1", "--page", "2", "--json"], 0),
    # wrangler dev reports a sleeping or event-waiting instance as running; the emulator as waiting
    ("instances list --status running --json", ["workflows", "instances", "list", WF, "--status", "waiting", "--json"], 0),
    ("instances list --status waiting", ["workflows", "instances", "list", WF, "--status", "running", "--json"], 0),
    ("instances describe --json (sleeping)", ["workflows", "instances", "describe", WF, "cli-1", "--json"], 0),
    ("instances describe latest --json", ["workflows", "instances", "describe", WF, "latest", "--json"], 0),
    ("instances pause --json (already paused)", ["workflows", "instances", "pause", WF, "cli-1", "--json"], 0),
    ("instances describe --json (paused)", ["workflows", "instances", "describe", WF, "cli-1", "--json"], 0),
    ("instances resume --json", ["workflows", "instances", "resume", WF, "cli-1", "--json"], 0),
    (None, ["workflows", "instances", "send-event", WF, "cli-3", "--type", "approve", "--payload", '{"ok":true}'], 0),
    ("instances describe --json (complete)", ["workflows", "instances", "describe", WF, "cli-3", "--json"], 0),
    # the emulator refuses events for a finished instance (wrangler dev accepts them): send to a waiting one
    ("instances send-event --json (complete instance)",
     ["workflows", "instances", "send-event", WF, "cli-2", "--type", "other", "--json"], 0),
    (None, ["workflows", "instances", "terminate", WF, "cli-1"], 0),
    ("instances restart --from-step-name nap --from-step-type sleep --json",
     ["workflows", "instances", "restart", WF, "cli-1", "--from-step-name", "nap", "--from-step-type", "sleep", "--json"], 0),
    ("instances terminate --rollback --json", ["workflows", "instances", "terminate", WF, "cli-2", "--rollback", "--json"], 0),
    ("instances delete --json with an unknown id",
     ["workflows", "instances", "delete", WF, "cli-1", "never-existed", "--json"], 1),
    ("delete --json", ["workflows", "delete", WF, "--json"], 0),
]


def test_every_recorded_json_command_is_in_the_session() -> None:
    assert {title for title, _, _ in SESSION if title} == {item["title"] for item in RECORDED}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What cfwf printed for each recorded transcript, running the session in one project."""
    project: Project = make_project(tmp_path_factory.mktemp("side-by-side"))
    printed: dict[str, Any] = {}
    for title, args, code in SESSION:
        result = project.run(*args)
        assert result.code == code, (args, result.stderr)
        if title:
            printed[title] = json.loads(result.stdout)
    return printed


@pytest.mark.parametrize("recorded", RECORDED, ids=[item["title"] for item in RECORDED])
def test_cfwf_json_has_wranglers_keys_and_types(outputs: dict[str, Any], recorded: dict[str, Any]) -> None:
    ours = outputs[recorded["title"]]
    assert type(ours) is type(recorded["json"])
    if isinstance(ours, list) and recorded["json"]:
        assert ours, "cfwf printed an empty list where wrangler printed items"
    assert differences(ours, recorded["json"]) == []
