"""``cfwf workflows list | describe | trigger | delete``."""

from __future__ import annotations

from typing import Any

from ..errors import WorkflowError
from .context import Ctx, parse_json, require_workflow
from .drive import run_affected
from .output import UserError
from .tables import labelled, table
from .timeline import status_line

__all__ = ["delete_workflow", "describe_workflow", "list_workflows", "trigger"]

#: The order wrangler prints instance counts in.
COUNT_ORDER = ("complete", "errored", "paused", "queued", "running", "terminated", "waiting", "waitingForPause")


async def list_workflows(ctx: Ctx) -> int:
    """The project's workflows, in configuration order."""
    summaries = {summary["name"]: summary for summary in await ctx.emulator.api.workflows()}
    order = [workflow.name for workflow in getattr(ctx.emulator.project, "workflows", ())]
    names = [name for name in order if name in summaries] + sorted(set(summaries) - set(order))
    rows = [
        {"name": name, "class_name": summaries[name]["class_name"], "script_name": ctx.script_name} for name in names
    ]
    if ctx.out.json_mode:
        ctx.out.json(rows)
    elif not rows:
        ctx.out.warn("This project has no workflows: add one to workflows[] in the wrangler config")
    else:
        ctx.out.line(f"Showing {len(rows)} workflow{'s' if len(rows) != 1 else ''} from this project:")
        ctx.out.line(
            table(["Name", "Script name", "Class name"], [[r["name"], r["script_name"], r["class_name"]] for r in rows])
        )
    return 0


async def describe_workflow(ctx: Ctx) -> int:
    """A workflow and its instance counts per status."""
    summary = await require_workflow(ctx, ctx.args.name)
    counts = {status: summary["counts"].get(status, 0) for status in COUNT_ORDER}
    if ctx.out.json_mode:
        ctx.out.json(
            {"name": summary["name"], "script_name": ctx.script_name, "class_name": summary["class_name"], "instances": counts}
        )
        return 0
    ctx.out.line(labelled({"Name": summary["name"], "Script Name": ctx.script_name, "Class Name": summary["class_name"]}))
    ctx.out.line("Instance Status Counts:")
    ctx.out.line(labelled({status: str(count) for status, count in counts.items()}, indent=2))
    return 0


async def trigger(ctx: Ctx) -> int:
    """Create an instance and run it until it finishes or waits."""
    name = ctx.args.name
    params: Any = parse_json(ctx.args.params, "instance parameters") if ctx.args.params else {}
    await require_workflow(ctx, name)
    try:
        instance_id = await ctx.emulator.api.create(name, ctx.args.id, params)
    except WorkflowError as exc:
        hint = "pass another --id" if exc.code == "instance.already_exists" else "fix the --id or the parameters"
        raise UserError(f"{exc}. To create a new instance, {hint}") from None
    await run_affected(ctx.emulator, ctx.out, [(name, instance_id)])
    if ctx.out.json_mode:
        ctx.out.json({"id": instance_id})
        return 0
    ctx.out.line(f'🚀 Workflow instance "{instance_id}" has been triggered successfully')
    ctx.out.line(status_line(await ctx.emulator.api.describe(name, instance_id)))
    return 0


async def all_instance_ids(ctx: Ctx, name: str, status: str | None = None) -> list[str]:
    """Every instance id of workflow ``name`` (with ``status``, when given), newest first."""
    ids: list[str] = []
    page = 1
    while True:
        listed = await ctx.emulator.api.list_instances(name, status=status, page=page, per_page=1000)
        ids += [summary["id"] for summary in listed["instances"]]
        if len(ids) >= listed["total"] or not listed["instances"]:
            return ids
        page += 1


async def delete_workflow(ctx: Ctx) -> int:
    """Delete every instance of a workflow (the workflow stays configured)."""
    name = ctx.args.name
    await require_workflow(ctx, name)
    for instance_id in await all_instance_ids(ctx, name):
        await ctx.emulator.api.delete(name, instance_id)
    await run_affected(ctx.emulator, ctx.out, [])
    if ctx.out.json_mode:
        ctx.out.json({"status": "ok", "success": True})
    else:
        ctx.out.line(f'✅ Workflow "{name}" instances removed successfully from the local state.')
    return 0
