"""Breaks "a step result can be at most 1 MiB": the step returns the whole 2 MiB export.

Every attempt fails with "output is too large"; the step fails after its retries.
"""

from __future__ import annotations

from typing import Any

from cfwf_emulator import WorkflowEntrypoint


class ExportWorkflow(WorkflowEntrypoint):
    """Build an export and return it from the step."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("build export", config={"retries": {"limit": 1, "delay": "1 second"}})
        async def build_export() -> str:
            return "x" * (2 * 1024 * 1024)  # BUG: store it in R2 and return the key instead

        export = await build_export()
        return {"size": len(export)}
