"""Breaks "step results must be serialisable": the step returns a ``set``.

A set cannot be saved in the journal: the instance fails with "not serialisable".
"""

from __future__ import annotations

from typing import Any

from cfwf_emulator import WorkflowEntrypoint


class TagWorkflow(WorkflowEntrypoint):
    """Collect the distinct tags of some posts."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("collect tags")
        async def collect_tags() -> set[str]:
            return {tag for post in event["payload"]["posts"] for tag in post["tags"]}  # BUG: a set

        tags = await collect_tags()
        return {"tags": sorted(tags)}
