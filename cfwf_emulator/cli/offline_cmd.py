"""Beyond wrangler, for offline work: ``cfwf check``, ``instances export`` and ``cfwf replay``."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

from ..api import JOURNAL_FORMAT
from ..emulator import Emulator
from .context import Ctx, parse_json, resolve_id
from .output import Output, UserError
from .project import ProjectOptions, config_file

__all__ = ["check", "export", "replay"]


async def export(ctx: Ctx) -> int:
    """Write an instance's journal as JSON, to stdout or ``--output FILE``."""
    args = ctx.args
    emulator = ctx.emulator
    if not isinstance(emulator, Emulator):
        raise UserError("export reads the journal from the state file, not through a dev server: leave out --local/--port")
    instance_id = await resolve_id(ctx, args.name, args.id)
    text = json.dumps(await emulator.api.export(args.name, instance_id), indent=4, ensure_ascii=False) + "\n"
    if args.output is None:
        ctx.out.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"--output {args.output}: cannot write it ({exc.strerror})") from None
    ctx.out.line(f'📦 The journal of "{instance_id}" from {args.name} was written to {args.output}')
    return 0


def _events(values: list[str]) -> list[dict[str, Any]]:
    events = []
    for value in values:
        event_type, sep, payload = value.partition("=")
        if not sep or not event_type:
            raise UserError(f"--event {value!r}: write it as TYPE=JSON, such as approval='{{\"ok\": true}}'")
        events.append({"type": event_type, "payload": parse_json(payload, f"the payload of --event {event_type}")})
    return events


def _load_project(options: ProjectOptions) -> Emulator:
    return Emulator.from_config(config_file(options), env=options.env, clock="virtual")


async def check(args: argparse.Namespace, out: Output, options: ProjectOptions) -> int:
    """Run the rules checker on the project's workflows (or one); exit status 1 on a violation."""
    from ..testing import check_workflow  # the checker's imports are only paid for by `cfwf check`

    params = parse_json(args.params, "--params")
    events = _events(args.event)
    emulator = _load_project(options)
    names = [workflow.name for workflow in emulator.project.workflows]
    if args.name is not None:
        if args.name not in names:
            raise UserError(f"Workflow '{args.name}' not found. Workflows of this project: {', '.join(names) or 'none'}")
        names = [args.name]
    broken = 0
    for name in names:
        binding = emulator.env[next(w.binding for w in emulator.project.workflows if w.name == name)]
        with warnings.catch_warnings():  # what the checker's own runs warn about is in its report
            warnings.simplefilter("ignore", UserWarning)
            report = await check_workflow(binding, params, events=events)
        out.stdout.write(report.format() + "\n\n")
        broken += len(report.violations)
    if broken:
        out.error(f"{broken} violation(s) of the Rules of Workflows; fix each as its 'fix:' line says")
        return 1
    return 0


async def replay(args: argparse.Namespace, out: Output, options: ProjectOptions) -> int:
    """Replay an exported journal against the current code; exit status 1 at the first difference."""
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{args.file}: cannot read it ({exc.strerror})") from None
    journal = parse_json(text, args.file)
    if not isinstance(journal, dict) or journal.get("format") != JOURNAL_FORMAT:
        raise UserError(f"{args.file} is not a journal written by `cfwf workflows instances export` ({JOURNAL_FORMAT})")
    from .journal import replay_journal  # imports the testing API

    difference = await replay_journal(_load_project(options), journal)
    label = f"{journal['workflow']}/{journal['id']}"
    if difference is None:
        out.stdout.write(f"✅ {label}: the current code replays the journal ({len(journal['steps'])} steps) with no difference\n")
        return 0
    out.stdout.write(f"❌ {label}: {difference}\n")
    out.error(f"the current code does not replay {args.file}: {difference}")
    return 1
