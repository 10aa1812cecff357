"""The README's "Offline development" session is what ``cfwf`` prints: each ``$ cfwf ...`` line of
its console blocks runs, in order, in a project holding the README's workflow, and prints the
text shown under it (dates and durations aside, which depend on when it runs)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from conftest import make_project

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = README.read_text(encoding="utf-8").split("## Offline development", 1)[1].split("\n## ", 1)[0]
CONFIG = """{
  "name": "signup-service",
  "main": "src/entry.py",
  "compatibility_date": "2026-06-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [{"name": "signup", "binding": "SIGNUP", "class_name": "SignupWorkflow"}],
}
"""
IMPORTS = "from workers import WorkflowEntrypoint\nfrom workers.workflows import NonRetryableError\n\n\n"
DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{4}, \d{1,2}:\d\d:\d\d [AP]M")


def normal(text: str) -> list[str]:
    """``text`` without what varies from run to run: dates, durations and the padding they cause."""
    text = DATE.sub("<date>", text)
    text = re.sub(r"\d+ (second|minute)s?", "<duration>", text)
    text = re.sub(r"─+", "─", text)
    return [re.sub(r" +", " ", line).rstrip() for line in text.splitlines()]


def session() -> list[tuple[list[str], str]]:
    """Each command of the section's console blocks, with the output shown under it."""
    steps: list[tuple[list[str], str]] = []
    for block in re.findall(r"```console\n(.*?)```", SECTION, re.DOTALL):
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, shown = chunk.partition("\n")
            steps.append((shlex.split(command), shown))
    return steps


def test_the_readme_session_prints_what_the_readme_shows(tmp_path: Path) -> None:
    source = re.search(r"```py\n(class SignupWorkflow.*?)```", SECTION, re.DOTALL)
    assert source is not None
    project = make_project(tmp_path, source=IMPORTS + source.group(1), config=CONFIG)
    (tmp_path / "tests" / "histories").mkdir(parents=True)
    commands = session()
    assert len(commands) == 9 and all(args[0] == "cfwf" for args, _ in commands)
    for args, shown in commands:
        result = project.run(*args[1:])
        assert result.code == 0, (args, result.stderr)
        assert normal(result.stdout) == normal(shown), args
