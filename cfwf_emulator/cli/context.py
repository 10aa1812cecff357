"""What every command gets (the emulator, the parsed arguments, the output) and the checks they share."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..api import STATUSES, WorkflowSummary
from ..errors import WorkflowError, did_you_mean
from .output import Output, UserError
from .session import Session

__all__ = ["Ctx", "iso_now", "parse_json", "refused", "require_instance", "require_workflow", "resolve_id", "valid_status"]


@dataclass
class Ctx:
    """One command's emulator (or running dev server), arguments and output."""

    emulator: Session
    args: argparse.Namespace
    out: Output

    @property
    def script_name(self) -> str:
        """The Worker's name (wrangler's ``script_name``): the config's ``name``."""
        project = self.emulator.project
        return str(getattr(project, "name", None) or "")


def iso_now() -> str:
    """Now, as JavaScript's ``toISOString()`` writes it."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_json(text: str, what: str) -> Any:
    """``text`` parsed as JSON, or the error wrangler gives (plus what to pass instead)."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UserError(
            f'Error while parsing {what}: "{text}" is not valid JSON ({exc}); pass a JSON value, '
            """such as '{"key": "value"}' (quoted for your shell)"""
        ) from None


def valid_status(status: str | None) -> str | None:
    """``status`` when it is one of the instance statuses; wrangler's error otherwise."""
    if status is not None and status not in STATUSES:
        raise UserError(
            f'Looks like you have provided a invalid status "{status}". Valid statuses are: {", ".join(STATUSES)}'
        )
    return status


async def require_workflow(ctx: Ctx, name: str) -> WorkflowSummary:
    """The workflow ``name`` of this project, or an error naming the ones there are."""
    summaries = await ctx.emulator.api.workflows()
    for summary in summaries:
        if summary["name"] == name:
            return summary
    known = [summary["name"] for summary in summaries]
    listed = ", ".join(known) if known else "none (add one to workflows[] in the wrangler config)"
    raise UserError(f"Workflow '{name}' not found{did_you_mean(name, known)}. Workflows of this project: {listed}")


async def require_instance(ctx: Ctx, workflow: str, instance_id: str) -> None:
    """Nothing when the instance exists; otherwise the error wrangler gives, and what to do."""
    if not await ctx.emulator.api.exists(workflow, instance_id):
        raise UserError(
            f"Workflow instance '{instance_id}' not found. List the instances with: "
            f"cfwf workflows instances list {workflow}"
        )


async def resolve_id(ctx: Ctx, workflow: str, instance_id: str) -> str:
    """``instance_id``, or the newest instance's id for ``latest``; checked to exist."""
    await require_workflow(ctx, workflow)
    if instance_id == "latest":
        page = await ctx.emulator.api.list_instances(workflow, page=1, per_page=1)
        if not page["instances"]:
            raise UserError(
                f'There are no instances in workflow "{workflow}"; trigger one with: cfwf workflows trigger {workflow}'
            )
        return page["instances"][0]["id"]
    await require_instance(ctx, workflow, instance_id)
    return instance_id


def refused(exc: WorkflowError, workflow: str, instance_id: str) -> UserError:
    """An engine refusal (a lifecycle action the status does not allow, say) as a user error."""
    return UserError(f"{exc}. See the instance's status with: cfwf workflows instances describe {workflow} {instance_id}")
