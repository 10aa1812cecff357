"""``cfwf workflows instances list | describe`` and the commands that change one instance."""

from __future__ import annotations

from typing import Any

from ..api import InstanceSummary
from ..errors import WorkflowError
from .context import Ctx, iso_now, parse_json, refused, require_workflow, resolve_id, valid_status
from .drive import run_affected
from .output import UserError
from .tables import local_time, parse_iso, table
from .timeline import STATUS_LABELS, render_instance
from .views import without_extension
from .workflows_cmd import all_instance_ids

__all__ = ["delete_instances", "describe_instance", "lifecycle", "list_instances", "send_event", "terminate_all"]


def _date(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    try:
        return parse_iso(value).isoformat()
    except ValueError:
        raise UserError(f"{flag} {value!r} is not an ISO 8601 date; pass e.g. 2026-01-01T00:00:00Z") from None


async def _dated(ctx: Ctx, start: str | None, end: str | None) -> tuple[list[InstanceSummary], int]:
    """The page asked for, of the instances created between ``start`` and ``end`` (inclusive)."""
    args = ctx.args
    everything: list[InstanceSummary] = []
    page = 1
    while True:
        listed = await ctx.emulator.api.list_instances(args.name, status=args.status, page=page, per_page=1000)
        everything += listed["instances"]
        if len(everything) >= listed["total"] or not listed["instances"]:
            break
        page += 1
    chosen = [
        item for item in everything
        if (start is None or parse_iso(item["created"]) >= parse_iso(start))
        and (end is None or parse_iso(item["created"]) <= parse_iso(end))
    ]
    first = (args.page - 1) * args.per_page
    return chosen[first : first + args.per_page], len(chosen)


async def list_instances(ctx: Ctx) -> int:
    """A page of a workflow's instances, newest first (the page oldest first with ``--reverse``)."""
    args = ctx.args
    valid_status(args.status)
    start, end = _date(args.date_start, "--date-start"), _date(args.date_end, "--date-end")
    if start and end and parse_iso(start) > parse_iso(end):
        raise UserError(f"--date-start ({start}) must not be after --date-end ({end}). Update --date-start or --date-end")
    await require_workflow(ctx, args.name)
    try:
        if start or end:
            instances, total = await _dated(ctx, start, end)
        else:
            listed = await ctx.emulator.api.list_instances(args.name, status=args.status, page=args.page, per_page=args.per_page)
            instances, total = listed["instances"], listed["total"]
    except WorkflowError as exc:
        raise UserError(f"{exc.message}; fix --page or --per-page") from None
    instances = sorted(instances, key=lambda item: item["created"], reverse=not args.reverse)
    rows = [{"id": item["id"], "status": item["status"], "created_on": item["created"]} for item in instances]
    if ctx.out.json_mode:
        ctx.out.json(rows)
    elif not rows:
        if total and args.page > 1:
            ctx.out.warn(f"No instances found on page {args.page}. Please try a smaller page number.")
        elif args.status or start or end:
            ctx.out.warn(f'No instances in workflow "{args.name}" matched the provided filters.')
        else:
            ctx.out.warn(
                f'There are no instances in workflow "{args.name}". You can trigger it with "cfwf workflows trigger {args.name}"'
            )
    else:
        ctx.out.line(f"Showing {len(rows)} instance{'s' if len(rows) != 1 else ''} from page {args.page}:")
        ctx.out.line(
            table(
                ["Instance ID", "Created", "Status"],
                [[r["id"], local_time(r["created_on"]), STATUS_LABELS.get(r["status"], r["status"])] for r in rows],
            )
        )
    return 0


async def describe_instance(ctx: Ctx) -> int:
    """An instance's details: its status, params, output and step timeline."""
    args = ctx.args
    instance_id = await resolve_id(ctx, args.name, args.id)
    details = await ctx.emulator.api.describe(args.name, instance_id)
    if ctx.out.json_mode:
        ctx.out.json({"id": instance_id, **without_extension(details)})
        return 0
    if args.truncate_output_limit < 0:
        raise UserError("--truncate-output-limit must be 0 or more characters")
    root = getattr(ctx.emulator.project, "root", None)
    render_instance(
        ctx.out, args.name, instance_id, details, show_output=args.step_output, limit=args.truncate_output_limit,
        root=str(root) if root else None,
    )
    return 0


async def send_event(ctx: Ctx) -> int:
    """Send an event to an instance, then run it as far as it goes."""
    args = ctx.args
    payload = parse_json(args.payload, "event payload")
    instance_id = await resolve_id(ctx, args.name, args.id)
    try:
        await ctx.emulator.api.send_event(args.name, instance_id, args.type, payload)
    except WorkflowError as exc:
        raise refused(exc, args.name, instance_id) from None
    await run_affected(ctx.emulator, ctx.out, [(args.name, instance_id)])
    if ctx.out.json_mode:
        ctx.out.json({"success": True})
    else:
        ctx.out.line(
            f'📤 The event with type "{args.type}" and payload "{args.payload}" was sent to the instance '
            f'"{instance_id}" from {args.name}'
        )
    return 0


_DONE = {
    "pause": "⏸️ The instance \"{id}\" from {name} was paused successfully",
    "resume": "🔄 The instance \"{id}\" from {name} was resumed successfully",
    "terminate": "🥷 The instance \"{id}\" from {name} was terminated successfully",
    "restart": "🥷 The instance \"{id}\" from {name} was restarted successfully",
}


def _restart_from(args: Any) -> dict[str, Any] | None:
    name, count, kind = args.from_step_name, args.from_step_count, args.from_step_type
    if name is None:
        if count is not None or kind is not None:
            raise UserError("--from-step-name is required when using --from-step-count or --from-step-type")
        return None
    origin: dict[str, Any] = {"name": name}
    if count is not None:
        if count < 1:
            raise UserError(f"--from-step-count must be a positive integer (1 is the first use of the name), got {count}")
        origin["count"] = count
    if kind is not None:
        origin["type"] = kind
    return origin


async def lifecycle(ctx: Ctx) -> int:
    """``pause``, ``resume``, ``terminate`` or ``restart`` one instance, then run it as far as it goes."""
    args = ctx.args
    action: str = args.action
    origin = _restart_from(args) if action == "restart" else None
    instance_id = await resolve_id(ctx, args.name, args.id)
    api = ctx.emulator.api
    try:
        if action == "restart":
            await api.restart(args.name, instance_id, origin)
        else:
            await getattr(api, action)(args.name, instance_id)
    except WorkflowError as exc:
        raise refused(exc, args.name, instance_id) from None
    await run_affected(ctx.emulator, ctx.out, [(args.name, instance_id)])
    if ctx.out.json_mode:
        status = (await api.status(args.name, instance_id))["status"]
        ctx.out.json({"status": status, "timestamp": iso_now()})
    else:
        ctx.out.line(_DONE[action].format(id=instance_id, name=args.name))
    return 0


async def delete_instances(ctx: Ctx) -> int:
    """Delete up to 100 instances (``latest`` allowed); exit status 1 if any could not be."""
    args = ctx.args
    ids: list[str] = list(args.ids)
    if args.filename:
        ids += _ids_from_file(args.filename)
    if not ids:
        raise UserError("Provide at least one workflow instance ID (or --filename FILE with a JSON array of ids)")
    if len(ids) > 100:
        raise UserError(f"At most 100 workflow instances can be deleted at once, got {len(ids)}; split the list")
    await require_workflow(ctx, args.name)
    if "latest" in ids:
        latest = await resolve_id(ctx, args.name, "latest")
        ctx.out.line(f'Latest instance is "{latest}"')
        ids = [latest if value == "latest" else value for value in ids]
    try:
        result = await ctx.emulator.api.delete_batch(args.name, ids)
    except WorkflowError as exc:
        raise UserError(f"{exc}. Fix the ids and run the command again") from None
    deleted, errors = result["deleted"], result["errors"]
    await run_affected(ctx.emulator, ctx.out, [])
    if ctx.out.json_mode:
        ctx.out.json({"deleted": deleted, "errors": errors})
    elif deleted:
        shown = ", ".join(f'"{item["id"]}"' for item in deleted)
        ctx.out.line(f'🗑️  Deleted workflow instances from "{args.name}": {shown}')
    if errors:
        listed = "; ".join(f"{item['id']}: {item['message']}" for item in errors)
        ctx.out.error(f"Failed to delete {len(errors)} workflow instance(s): {listed}")
        return 1
    return 0


def _ids_from_file(filename: str) -> list[str]:
    try:
        with open(filename, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise UserError(f"--filename {filename}: cannot read it ({exc.strerror})") from None
    ids = parse_json(text, f"--filename {filename}")
    if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
        raise UserError(f'--filename {filename} must hold a JSON array of instance ids, such as ["a", "b"]')
    return ids


async def terminate_all(ctx: Ctx) -> int:
    """Terminate every unfinished instance of a workflow (only those with ``--status``, when given)."""
    args = ctx.args
    valid_status(args.status)
    await require_workflow(ctx, args.name)
    terminated: list[str] = []
    for instance_id in await all_instance_ids(ctx, args.name, args.status):
        status = (await ctx.emulator.api.status(args.name, instance_id))["status"]
        if status not in ("complete", "errored", "terminated"):
            await ctx.emulator.api.terminate(args.name, instance_id)
            terminated.append(instance_id)
    await run_affected(ctx.emulator, ctx.out, [])
    if ctx.out.json_mode:
        ctx.out.json({"terminated": [{"id": instance_id} for instance_id in terminated]})
    elif terminated:
        ctx.out.line(f'🥷 Terminated {len(terminated)} instance(s) of {args.name}: {", ".join(terminated)}')
    else:
        ctx.out.warn(f'No unfinished instances of "{args.name}" to terminate.')
    return 0
