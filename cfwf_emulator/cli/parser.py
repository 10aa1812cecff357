"""The ``cfwf`` argument parser: ``wrangler workflows``' commands and flags, plus the offline extras."""

from __future__ import annotations

import argparse
from typing import Any

from .dev_cmd import add_dev_parser

__all__ = ["build_parser"]


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _common(parser: argparse.ArgumentParser, *, json_flag: bool = True, local: bool = True) -> None:
    group = parser.add_argument_group("project")
    group.add_argument("--config", "-c", metavar="PATH", help="wrangler config file (default: found upward from here)")
    group.add_argument("--env", "-e", metavar="NAME", help="environment of the config to use")
    group.add_argument(
        "--persist-to", metavar="DIR", help="state directory (default: .cfwf/state beside the config)"
    )
    group.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    if local:
        group.add_argument("--local", action="store_true", help="go through a running `cfwf dev` session")
        group.add_argument("--port", type=int, help="port of that session (default 8787)")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print the result as JSON, as wrangler --json does")


def _command(
    sub: Any, name: str, handler: str, help_text: str, *, write: bool, json_flag: bool = True, local: bool = True
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler, write=write)
    _common(parser, json_flag=json_flag, local=local)
    return parser


def _workflows(sub: Any) -> None:
    parser = _command(sub, "list", "list_workflows", "List the project's workflows", write=False)
    parser.add_argument("--page", type=int, default=1, help="accepted as wrangler does; a project has one page")
    parser.add_argument("--per-page", type=int, help="accepted as wrangler does; a project has one page")
    parser = _command(sub, "describe", "describe_workflow", "Describe a workflow and count its instances", write=False)
    parser.add_argument("name", help="name of the workflow")
    parser = _command(sub, "trigger", "trigger", "Create an instance and run it until it finishes or waits", write=True)
    parser.add_argument("name", help="name of the workflow")
    parser.add_argument("params", nargs="?", default="", help="params of the instance, as JSON")
    parser.add_argument("--id", help="id of the instance (default: a random UUID)")
    parser = _command(sub, "delete", "delete_workflow", "Delete every instance of a workflow", write=True)
    parser.add_argument("name", help="name of the workflow")


def _instance_parsers(sub: Any) -> None:
    parser = _command(sub, "list", "list_instances", "List a workflow's instances", write=False)
    parser.add_argument("name", help="name of the workflow")
    parser.add_argument("--reverse", action="store_true", help="list the page oldest first")
    parser.add_argument("--status", help="only instances with this status")
    parser.add_argument("--date-start", help="only instances created at or after this ISO 8601 time")
    parser.add_argument("--date-end", help="only instances created at or before this ISO 8601 time")
    parser.add_argument("--page", type=int, default=1, help="page to show (default 1)")
    parser.add_argument("--per-page", type=int, default=25, help="instances per page (default 25)")
    parser = _command(sub, "describe", "describe_instance", "Describe an instance: its steps, retries and errors", write=False)
    parser.add_argument("name", help="name of the workflow")
    parser.add_argument("id", nargs="?", default="latest", help="id of the instance, or latest (default)")
    parser.add_argument(
        "--step-output", nargs="?", const=True, default=True, type=_bool, metavar="BOOL", help="show step outputs (default true)"
    )
    parser.add_argument("--no-step-output", dest="step_output", action="store_false", help="hide step outputs")
    parser.add_argument("--truncate-output-limit", type=int, default=5000, help="truncate outputs after N characters")
    parser = _command(sub, "send-event", "send_event", "Send an event to an instance", write=True)
    parser.add_argument("name", help="name of the workflow")
    parser.add_argument("id", nargs="?", default="latest", help="id of the instance, or latest (default)")
    parser.add_argument("--type", required=True, help="type of the event")
    parser.add_argument("--payload", default="{}", help="payload of the event, as JSON (default {})")
    for action, text in (("pause", "Pause"), ("resume", "Resume"), ("terminate", "Terminate"), ("restart", "Restart")):
        parser = _command(sub, action, "lifecycle", f"{text} an instance", write=True)
        parser.set_defaults(action=action)
        parser.add_argument("name", help="name of the workflow")
        parser.add_argument("id", help="id of the instance, or latest")
        if action == "terminate":
            parser.add_argument("--rollback", action="store_true", help="run rollbacks (Python workflows register none)")
        if action == "restart":
            parser.add_argument("--from-step-name", help="restart from the step with this name")
            parser.add_argument("--from-step-count", type=int, help="which use of that name (1-based)")
            parser.add_argument("--from-step-type", choices=("do", "sleep", "waitForEvent"), help="kind of that step")
    parser = _command(sub, "delete", "delete_instances", "Delete instances", write=True)
    parser.add_argument("name", help="name of the workflow")
    parser.add_argument("ids", nargs="*", help="ids of the instances (latest allowed)")
    parser.add_argument("--filename", help="a JSON file holding an array of ids")
    parser = _command(sub, "terminate-all", "terminate_all", "Terminate every unfinished instance", write=True, local=False)
    parser.add_argument("name", help="name of the workflow")
    parser.add_argument("--status", help="only instances with this status")
    parser = _command(sub, "export", "export", "Write an instance's journal as JSON (for cfwf replay)", write=False, json_flag=False)
    parser.add_argument("name", help="name of the workflow")
    parser.add_argument("id", help="id of the instance, or latest")
    parser.add_argument("--output", "-o", metavar="FILE", help="write it to FILE (default: stdout)")


def build_parser() -> argparse.ArgumentParser:
    """The whole ``cfwf`` command line."""
    parser = argparse.ArgumentParser(
        prog="cfwf",
        description="Cloudflare Workflows, offline: wrangler's `workflows` commands on your project's local state.",
    )
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    workflows = top.add_parser("workflows", help="manage workflows and their instances (as wrangler workflows)")
    wf_sub = workflows.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    _workflows(wf_sub)
    instances = wf_sub.add_parser("instances", help="manage the instances of a workflow")
    _instance_parsers(instances.add_subparsers(dest="instances_command", metavar="COMMAND", required=True))
    check = _command(top, "check", "check", "Check the project's workflows against the Rules of Workflows",
                     write=False, json_flag=False, local=False)
    check.add_argument("name", nargs="?", help="only this workflow (default: every one)")
    check.add_argument("--params", default="{}", help="params to run each workflow with, as JSON (default {})")
    check.add_argument("--event", action="append", default=[], metavar="TYPE=JSON",
                       help="an event to send when the workflow waits for TYPE (repeatable)")
    replay = _command(top, "replay", "replay", "Replay an exported journal against the current code",
                      write=False, json_flag=False, local=False)
    replay.add_argument("file", help="a journal written by `cfwf workflows instances export`")
    add_dev_parser(top)
    return parser
