"""A checker for Cloudflare's "Rules of Workflows": run a workflow several ways and report what breaks.

    from cfwf_emulator.testing.rules import check_workflow, assert_follows_rules

    report = await check_workflow(OrderWorkflow, params={"order_id": 7},
                                  events=[{"type": "approved", "payload": {"by": "ana"}}])
    print(report)                      # every violation: the rule, the step, what happened, the fix
    await assert_follows_rules(OrderWorkflow, params={"order_id": 7})   # in a pytest test

The workflow runs, on virtual time, as:

- ``baseline``: a normal run (the reference);
- ``repeat``: a second normal run (tells results that legitimately vary from bugs);
- ``replay``: replayed from the top after every step (``Emulator(hibernate="always")``);
- ``retries``: the first attempt of every retryable step fails once, then it is retried;
- ``crash``: on SQLite, the process "crashes" after each step ran but before its result was
  saved, and at each sleep or event wait, and a new emulator recovers from the file;
- ``sleeps``: with sleeps disabled;
- ``exceptions``: an error is injected into each step awaited inside a ``try`` whose ``except``
  names a class that cannot arrive from a step.

``events`` are sent when the workflow waits for an event of their type. The journals (step names,
kinds, order, counts, results) and outcomes are compared with the baseline, and probes watch
for steps never awaited, calls on ``env`` bindings outside steps, changes to the ``event`` and
``step.do`` in the JavaScript-style call form (accepted during the check, so the rest is checked).
Each finding names the rule, the step and a fix; see :data:`RULES`.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import textwrap
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from ..engine.records import StepKey
from .modifier import InstanceModifier
from .rules_runner import RunContext, RunResult, StepSnapshot, make_target, run_scenario
from .rules_source import DeadHandler, UnawaitedCoroutine, dead_handlers, parse_unawaited

__all__ = [
    "RULES",
    "SCENARIOS",
    "Rule",
    "RulesReport",
    "RunSummary",
    "Violation",
    "assert_follows_rules",
    "check_workflow",
]


@dataclass(frozen=True)
class Rule:
    """One of the Rules of Workflows the checker can catch: its id, its title and the usual fix."""

    id: str
    title: str
    fix: str


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.id: rule for rule in rules}


#: The rules the checker reports, by id.
RULES: dict[str, Rule] = _rules(
    Rule(
        "deterministic-step-names",
        "Step names must be deterministic",
        "Build step names only from constants, the event payload and results of earlier steps, "
        "never from the time, random values or counters kept outside steps.",
    ),
    Rule(
        "deterministic-step-order",
        "Steps must be called in the same order on every run",
        "Base control flow only on event['payload'] and step results: do anything random or "
        "time-dependent inside a step and branch on what it returns.",
    ),
    Rule(
        "state-outside-steps",
        "Don't rely on state outside of steps",
        "Return everything later code needs from the step that computes it (step results are "
        "saved; variables, self attributes and globals are not), and compute values that vary "
        "(time, randomness) inside a step.",
    ),
    Rule(
        "await-steps",
        "Always await your steps",
        "Write `await` before every step call (or pass the coroutines to asyncio.gather); a step "
        "that is never awaited never runs and nothing reports it.",
    ),
    Rule(
        "side-effects-in-steps",
        "Put side effects and reads of outside data inside steps",
        "Move the call into a step.do callback, so it runs once, its result is saved and it is "
        "not repeated or re-read differently when the workflow is replayed.",
    ),
    Rule(
        "immutable-event",
        "Don't mutate the incoming event",
        "Treat `event` as read-only: copy what you change (payload = dict(event['payload'])) or "
        "return the changed data from a step.",
    ),
    Rule(
        "step-result-size",
        "A step result can be at most 1 MiB",
        "Store large data elsewhere inside the step (R2, KV, D1) and return a small reference "
        "such as its key.",
    ),
    Rule(
        "serialisable-results",
        "Step results and run()'s output must be serialisable",
        "Return JSON-like data: None, bool, int, float, str, list and dict with str keys (and "
        "datetime); convert objects, sets, bytes and tuples before returning them.",
    ),
    Rule(
        "portable-exceptions",
        "Only TypeError, ValueError and NonRetryableError keep their class across a step",
        "Catch Exception (or cfwf_emulator.StepError) and tell errors apart by their name "
        "(getattr(e, 'name', type(e).__name__) == 'MyError'), or let the step return a result "
        "that says what happened instead of raising.",
    ),
    Rule(
        "portable-step-api",
        "step.do has only the decorator form in Cloudflare's Python SDK",
        'Write the step as a decorator: @step.do("name", config={...}) above a def or async def '
        "holding the callback's body, then await the decorated function (result = await "
        "my_step()); the call form step.do(name, [config], callback) raises TypeError on Cloudflare.",
    ),
    Rule(
        "idempotent-steps",
        "Steps must be safe to run more than once",
        "A step can run again after a failure or a crash that happened after it did its work but "
        "before its result was saved: make repeated runs harmless (check before writing, use "
        "idempotency keys, write absolute values rather than increments).",
    ),
)

#: The ways the workflow is run; ``baseline`` always runs.
SCENARIOS = ("baseline", "repeat", "replay", "retries", "crash", "sleeps", "exceptions")

_DESCRIPTIONS = {
    "baseline": "a normal run",
    "repeat": "a second, identical run",
    "replay": "a run replayed from the top after every step (as Cloudflare replays after a sleep, "
    "an event wait or an eviction)",
    "retries": "a run where every step's first attempt failed once and was retried",
    "crash": "a run that crashed right after each step ran but before its result was saved (and "
    "at each sleep or wait), recovering each time from storage",
    "sleeps": "a run with sleeps disabled",
}
_SHORT = {
    "baseline": "normal",
    "repeat": "repeated",
    "replay": "replayed after every step",
    "retries": "first attempts failing",
    "crash": "crash and recovery",
    "sleeps": "sleeps disabled",
}
_DIFFERENCE_RULE = {
    "replay": "state-outside-steps",
    "sleeps": "state-outside-steps",
    "retries": "idempotent-steps",
    "crash": "idempotent-steps",
}
DEFAULT_START = datetime(2026, 1, 1, tzinfo=timezone.utc)
_INJECTED = "injected by the cfwf rules checker"
_STATE_WORDS = {"ok": "succeeded", "error": "failed", "running": "was still running", "waiting": "was still waiting"}
_MAX_INJECTIONS = 20


@dataclass(frozen=True)
class Violation:
    """One broken rule: which (``rule``, see :data:`RULES`), where, what happened, how to fix it."""

    rule: str
    title: str
    message: str
    fix: str
    step: str | None = None
    """The step concerned, e.g. ``step.do "charge card"``, when known."""
    location: str | None = None
    """``file.py:LINE`` of the code concerned, when known."""
    scenario: str | None = None
    """The run that showed it (a name from :data:`SCENARIOS`), when it took a special run."""

    def format(self) -> str:
        """The violation as readable text (several indented lines)."""
        lines = [f"[{self.rule}] {self.title}"]
        where = " at ".join(part for part in (self.step, self.location) if part)
        if where:
            lines.append(_wrap("where: ", where))
        lines.append(_wrap("found: ", self.message))
        lines.append(_wrap("fix:   ", self.fix))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class RunSummary:
    """How one run of the check ended."""

    scenario: str
    description: str
    outcome: str
    steps: int


@dataclass
class RulesReport:
    """What :func:`check_workflow` found: the violations, the runs it made and side notes."""

    workflow: str
    violations: list[Violation] = field(default_factory=list)
    runs: list[RunSummary] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no rule is broken."""
        return not self.violations

    @property
    def rules(self) -> list[str]:
        """The ids of the broken rules, sorted."""
        return sorted({violation.rule for violation in self.violations})

    def for_rule(self, rule: str) -> list[Violation]:
        """The violations of one rule."""
        if rule not in RULES:
            raise KeyError(f"unknown rule {rule!r}; rules: {', '.join(RULES)}")
        return [violation for violation in self.violations if violation.rule == rule]

    def format(self) -> str:
        """The whole report as readable text."""
        count = len(self.violations)
        head = (
            f"Rules of Workflows check of {self.workflow}: "
            + ("no violations" if count == 0 else f"{count} violation{'s' if count != 1 else ''}")
        )
        first = self.runs[0].outcome if self.runs else None
        runs = "; ".join(
            f"{run.description}: {run.outcome if index == 0 or run.outcome != first else 'same'}"
            for index, run in enumerate(self.runs)
        )
        parts = [head, _wrap("runs: ", runs)]
        for index, violation in enumerate(self.violations, 1):
            parts.append(f"{index}. {violation.format()}")
        if self.notes:
            parts.append("notes:")
            parts.extend(_wrap("- ", note) for note in self.notes)
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.format()


def _wrap(label: str, text: str) -> str:
    return textwrap.fill(
        text, width=100, initial_indent="   " + label, subsequent_indent="   " + " " * len(label),
        break_long_words=False, break_on_hyphens=False,
    )


def _short_value(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _step_label(key: StepKey) -> str:
    kind, name, count = key
    api = {"do": "step.do", "sleep": "step.sleep", "waitForEvent": "step.wait_for_event"}.get(kind, kind)
    return f'{api} "{name}"' + (f" (call #{count})" if count > 1 else "")


# -- running ------------------------------------------------------------------------------------


@dataclass
class _Captured:
    warnings: list[warnings.WarningMessage] = field(default_factory=list)


@contextmanager
def _capture() -> Iterator[_Captured]:
    """Record every warning (with coroutine origins, to place "never awaited" ones)."""
    captured = _Captured()
    depth = sys.get_coroutine_origin_tracking_depth()
    sys.set_coroutine_origin_tracking_depth(max(depth, 12))
    try:
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always")
            try:
                yield captured
            finally:
                gc.collect()
                captured.warnings = list(recorded)
    finally:
        sys.set_coroutine_origin_tracking_depth(depth)


def _check_events(events: Any) -> list[dict[str, Any]]:
    if events is None:
        return []
    if not isinstance(events, (list, tuple)):
        raise TypeError(f'events must be a list of {{"type": str, "payload": ...}} dicts, got {events!r}')
    checked = []
    for event in events:
        if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
            raise TypeError(f'each event must be a dict {{"type": str, "payload": ...}}, got {event!r}')
        checked.append({"type": event["type"], "payload": event.get("payload")})
    return checked


def _start_ms(start: datetime | float) -> float:
    if isinstance(start, datetime):
        aware = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
        return aware.timestamp() * 1000.0
    return float(start)


def _retry_modifications(baseline: RunResult) -> Callable[[InstanceModifier], None] | None:
    targets = [
        (step.name, step.count)
        for step in baseline.steps
        if step.kind == "do" and step.retry_limit is not None and step.retry_limit >= 1
    ]
    if not targets:
        return None

    def modify(m: InstanceModifier) -> None:
        m.disable_retry_delays()
        for name, count in targets:
            m.mock_step_error(
                {"name": name, "index": count},
                RuntimeError(f"first attempt failed ({_INJECTED})"),
                times=1,
            )

    return modify


@dataclass(frozen=True)
class _Injection:
    key: StepKey
    handler: DeadHandler


def _injections(baseline: RunResult) -> list[_Injection]:
    found: list[_Injection] = []
    seen: set[tuple[StepKey, str, int]] = set()
    for step in baseline.steps:
        if step.kind == "sleep":
            continue
        frames = baseline.locations.get(step.key, [])
        for handler in dead_handlers(frames, step_can_raise_custom=step.kind == "do"):
            marker = (step.key, handler.location.filename, handler.location.lineno)
            if marker not in seen:
                seen.add(marker)
                found.append(_Injection(step.key, handler))
    return found[:_MAX_INJECTIONS]


def _injection_modifier(injection: _Injection) -> Callable[[InstanceModifier], None]:
    kind, name, count = injection.key
    selector = {"name": name, "index": count}

    def modify(m: InstanceModifier) -> None:
        m.disable_retry_delays()
        if kind == "waitForEvent":
            m.force_event_timeout(selector)
        elif injection.handler.injectable == "TimeoutError":
            m.force_step_timeout(selector)
        else:
            m.mock_step_error(selector, {"name": injection.handler.injectable, "message": _INJECTED})

    return modify


async def check_workflow(
    workflow: Any,
    params: Any = None,
    *,
    events: list[dict[str, Any]] | None = None,
    env: "Mapping[str, Any] | Callable[[Any], Mapping[str, Any]] | None" = None,
    instance_id: str = "rules-check",
    name: str | None = None,
    compatibility_date: str | None = None,
    compatibility_flags: Iterable[str] = (),
    scenarios: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    timeout: float = 30.0,
    start: datetime | float = DEFAULT_START,
) -> RulesReport:
    """Run ``workflow`` several ways and report every Rule of Workflows it breaks.

    ``workflow`` is a ``WorkflowEntrypoint`` subclass or a binding (``emu.env.MY_WORKFLOW``; the
    checker hosts it in fresh emulators with the same workflows, vars and bindings, or reloads its
    wrangler project). ``params`` become the event payload; ``events`` (``[{"type", "payload"}]``)
    are sent, in order per type, whenever the workflow waits for an event of that type. ``env``
    adds bindings (a mapping, or a callable taking the emulator and returning one, called once
    per run so each run gets fresh state). ``scenarios`` limits the runs (see :data:`SCENARIOS`;
    ``baseline`` always runs); ``ignore`` drops rules by id; ``timeout`` caps each run in real
    seconds; ``start`` is the virtual time every run starts at.

    Returns a :class:`RulesReport`; it never raises for a broken rule (see
    :func:`assert_follows_rules`). Runs are in virtual time and take milliseconds each.
    """
    if isinstance(scenarios, str):
        scenarios = [scenarios]
    selected = set(SCENARIOS if scenarios is None else scenarios) | {"baseline"}
    unknown = selected - set(SCENARIOS)
    if unknown:
        raise ValueError(f"unknown scenario(s) {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    ignored = set(ignore)
    if ignored - set(RULES):
        raise ValueError(f"unknown rule(s) {sorted(ignored - set(RULES))}; rules: {', '.join(RULES)}")
    target = make_target(
        workflow, name=name, compatibility_date=compatibility_date,
        compatibility_flags=tuple(compatibility_flags), env=env,
    )
    notes: list[str] = []
    runs: dict[str, RunResult] = {}
    injected: list[tuple[_Injection, RunResult]] = []
    with tempfile.TemporaryDirectory(prefix="cfwf-rules-") as workdir, _capture() as captured:
        context = RunContext(
            target, params, _check_events(events), instance_id, _start_ms(start), timeout, Path(workdir)
        )
        baseline = runs["baseline"] = await run_scenario(context, "baseline")
        cap = 2 * len(baseline.steps) + 12
        if "repeat" in selected:
            runs["repeat"] = await run_scenario(context, "repeat", max_steps=cap)
        if "replay" in selected:
            runs["replay"] = await run_scenario(context, "replay", hibernate="always", max_steps=cap)
        if "retries" in selected:
            modify = _retry_modifications(baseline)
            if modify is None:
                notes.append("no step allows a retry, so the retries run was skipped")
            else:
                runs["retries"] = await run_scenario(context, "retries", modify=modify, max_steps=cap)
        if "crash" in selected:
            runs["crash"] = await run_scenario(context, "crash", crash=True, max_steps=cap)
        if "sleeps" in selected:
            runs["sleeps"] = await run_scenario(
                context, "sleeps", modify=lambda m: m.disable_sleeps(), max_steps=cap
            )
        if "exceptions" in selected:
            for injection in _injections(baseline):
                result = await run_scenario(
                    context, "exceptions", modify=_injection_modifier(injection), max_steps=cap
                )
                injected.append((injection, result))
    unawaited = _sort_warnings(captured.warnings, notes)
    report = RulesReport(target.label)
    report.violations = [
        violation for violation in _analyse(runs, injected, unawaited, notes) if violation.rule not in ignored
    ]
    report.runs = [
        RunSummary(result.scenario, _SHORT.get(result.scenario, result.scenario), result.outcome(), len(result.steps))
        for result in runs.values()
    ] + [
        RunSummary("exceptions", f"{injection.handler.injectable} injected into {_step_label(injection.key)}",
                   result.outcome(), len(result.steps))
        for injection, result in injected
    ]
    for result in [*runs.values(), *(result for _, result in injected)]:
        for problem in result.problems:
            notes.append(f"{_DESCRIPTIONS.get(result.scenario, result.scenario)}: the instance {problem}")
    notes.extend(_missing_events(baseline, context.events))
    report.notes = list(dict.fromkeys(notes))
    return report


async def assert_follows_rules(workflow: Any, params: Any = None, **options: Any) -> RulesReport:
    """:func:`check_workflow`, raising ``AssertionError`` with the readable report on any violation.

    For pytest: ``await assert_follows_rules(MyWorkflow, {"id": 1}, events=[...])``. Returns the
    report when every rule holds.
    """
    report = await check_workflow(workflow, params, **options)
    if report.violations:
        raise AssertionError(report.format())
    return report


def _sort_warnings(captured: list[warnings.WarningMessage], notes: list[str]) -> list[UnawaitedCoroutine]:
    """Pick out "never awaited" warnings from user code; re-issue unrelated warnings."""
    unawaited: dict[Any, UnawaitedCoroutine] = {}
    replay: list[warnings.WarningMessage] = []
    for item in captured:
        text = str(item.message)
        if "simulated crash by the rules checker" in text:
            continue
        parsed = parse_unawaited(text) if issubclass(item.category, RuntimeWarning) else None
        if parsed is None:
            replay.append(item)
            continue
        if parsed.is_step:
            unawaited.setdefault((parsed.what, parsed.location), parsed)
        else:
            notes.append(
                f"{parsed.what} created at {parsed.location} was never awaited"
                + (f" (`{parsed.source}`)" if parsed.source else "")
            )
    seen: set[tuple[str, str]] = set()
    for item in replay:
        key = (item.category.__name__, str(item.message))
        if key not in seen:
            seen.add(key)
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return list(unawaited.values())


def _missing_events(baseline: RunResult, events: list[dict[str, Any]]) -> list[str]:
    given = {event["type"] for event in events}
    notes = []
    for step in baseline.steps:
        if step.kind == "waitForEvent" and step.state == "error" and step.name:
            record = step.error or {}
            if record.get("name") == "WorkflowTimeoutError":
                notes.append(
                    f'{_step_label(step.key)} timed out in the normal run'
                    + ("" if given else "; pass events=[{\"type\": ..., \"payload\": ...}] to send it")
                )
    return notes


# -- analysis -----------------------------------------------------------------------------------


class _Findings:
    def __init__(self) -> None:
        self.items: list[Violation] = []
        self._keys: dict[Any, int] = {}
        self._by_rule: dict[str, set[Any]] = {}

    def keys_of(self, rule: str) -> set[Any]:
        """The dedupe keys of the findings of ``rule`` so far."""
        return set(self._by_rule.get(rule, set()))

    def add(
        self,
        rule: str,
        message: str,
        *,
        key: Any = None,
        step: str | None = None,
        location: str | None = None,
        scenario: str | None = None,
        fix: str | None = None,
    ) -> None:
        marker = (rule, key if key is not None else (step, location))
        self._by_rule.setdefault(rule, set()).add(key if key is not None else (step, location))
        if marker in self._keys:
            return
        self._keys[marker] = len(self.items)
        spec = RULES[rule]
        self.items.append(
            Violation(rule, spec.title, message, fix or spec.fix, step, location, scenario)
        )


def _analyse(
    runs: dict[str, RunResult],
    injected: list[tuple[_Injection, RunResult]],
    unawaited: list[UnawaitedCoroutine],
    notes: list[str],
) -> list[Violation]:
    findings = _Findings()
    baseline = runs["baseline"]
    everything = [*runs.values(), *(result for _, result in injected)]
    _check_unawaited(findings, unawaited)
    _check_call_forms(findings, everything)
    _check_results(findings, everything)
    _check_event_changes(findings, everything)
    _check_env_calls(findings, runs)
    repeat = runs.get("repeat")
    if repeat is not None:
        _compare_repeat(findings, baseline, repeat)
    for scenario in ("replay", "retries", "crash", "sleeps"):
        other = runs.get(scenario)
        if other is not None:
            _compare(findings, baseline, repeat, other)
    for injection, result in injected:
        _check_injection(findings, baseline, injection, result)
    return findings.items


def _location_of(run: RunResult, key: StepKey) -> str | None:
    frames = run.locations.get(key)
    return str(frames[0].location) if frames else None


def _check_unawaited(findings: _Findings, unawaited: list[UnawaitedCoroutine]) -> None:
    for item in unawaited:
        step = f'step "{item.step_name}"' if item.step_name else "the step"
        source = f" (`{item.source}`)" if item.source else ""
        findings.add(
            "await-steps",
            f"{item.what} was called at {item.location}{source} but the coroutine it returned was "
            f"never awaited, so {step} never ran: it is missing from the journal and nothing failed.",
            step=f'step.do "{item.step_name}"' if item.step_name else None,
            location=str(item.location) if item.location else None,
        )


def _check_call_forms(findings: _Findings, runs: list[RunResult]) -> None:
    for run in runs:
        for use in run.call_forms:
            where = f" at {use.location}" if use.location else ""
            findings.add(
                "portable-step-api",
                f"step.do({_short_value(use.name)}, ..., callback){where} is the JavaScript-style call "
                "form: the emulator ran it for this check, but Cloudflare's Python SDK has only the "
                "decorator form and raises TypeError there (so does the emulator by default).",
                key=(use.location, use.name) if use.location else use.name,
                step=f'step.do "{use.name}"',
                location=str(use.location) if use.location else None,
            )


def _check_results(findings: _Findings, runs: list[RunResult]) -> None:
    for run in runs:
        rpc_step = False
        for step in run.steps:
            if step.kind != "do":
                continue
            for error in step.attempt_errors:
                message = str(error.get("message", ""))
                label = _step_label(step.key)
                if "output is too large" in message:
                    findings.add(
                        "step-result-size",
                        f"{label} returned more than 1 MiB; every attempt failed with "
                        f'"{message}"' + (" and the step failed." if step.state == "error" else "."),
                        key=step.name, step=label, location=_location_of(run, step.key),
                    )
                elif "is not serialisable" in message or "cannot be sent over RPC" in message:
                    rpc_step = rpc_step or "cannot be sent over RPC" in message
                    findings.add(
                        "serialisable-results",
                        f'{label} returned a value that cannot be saved: "{message}"'
                        + (f"; the instance ended {run.outcome()}." if run.status == "errored" else "."),
                        key=step.name, step=label, location=_location_of(run, step.key),
                    )
        error = run.error or {}
        message = str(error.get("message", ""))
        if run.status == "errored" and (
            message.startswith("The value returned by run() is not serialisable")
            or ("cannot be sent over RPC" in message and not rpc_step)
        ):
            findings.add(
                "serialisable-results",
                f'run() returned a value that cannot be saved as the output: "{message}".',
                key="run() output", step="run() return value",
            )


def _check_event_changes(findings: _Findings, runs: list[RunResult]) -> None:
    for run in runs:
        for change in run.event_changes:
            where = _step_label(change.before_step) if change.before_step else "the end of run()"
            paths = ", ".join(change.paths[:4]) or "the event"
            findings.add(
                "immutable-event",
                f"run() changed {paths} (noticed before {where}). Changes to the event are not "
                "saved: after a replay or a restart run() sees the original event again, so code "
                "that relies on the change behaves differently.",
                key="event",
                step=_step_label(change.before_step) if change.before_step else None,
                location=_location_of(run, change.before_step) if change.before_step else None,
            )


def _check_env_calls(findings: _Findings, runs: dict[str, RunResult]) -> None:
    counts: dict[tuple[str, str, str | None], dict[str, int]] = {}
    for scenario, run in runs.items():
        for call in run.env_calls:
            if call.in_step:
                continue
            marker = (call.binding, call.method, str(call.location) if call.location else None)
            per_run = counts.setdefault(marker, {})
            per_run[scenario] = per_run.get(scenario, 0) + 1
    for (binding, method, location), per_run in counts.items():
        evidence = ", ".join(
            f"{per_run.get(scenario, 0)}x {_SHORT[scenario]}" for scenario in runs if scenario in _SHORT
        )
        findings.add(
            "side-effects-in-steps",
            f"env.{binding}.{method}() is called outside any step ({evidence}). Code outside "
            "steps runs again every time the workflow is replayed or recovers, so this call is "
            "repeated, and anything it reads is not saved.",
            key=(binding, method, location),
            step=f"env.{binding}.{method}()",
            location=location,
        )


def _journal_difference(reference: RunResult, other: RunResult) -> tuple[str, StepKey | None, str] | None:
    """``(rule, step, text)`` when the two journals name or order their steps differently."""
    ref_keys = [step.key for step in reference.steps]
    other_keys = [step.key for step in other.steps]
    ref_names = {(kind, name) for kind, name, _ in ref_keys}
    other_names = {(kind, name) for kind, name, _ in other_keys}
    if other.runaway:
        return (
            "deterministic-step-names",
            None,
            f"the workflow kept calling new steps ({len(other_keys)} were started; the normal run "
            f"has {len(ref_keys)}) and was stopped: each time run() ran again it used step names "
            "that had no saved result, so the steps ran again and again.",
        )
    extra = [name for kind, name in dict.fromkeys((k, n) for k, n, _ in other_keys) if (kind, name) not in ref_names]
    if extra:
        missing = [name for kind, name in dict.fromkeys((k, n) for k, n, _ in ref_keys) if (kind, name) not in other_names]
        first = next((key for key in ref_keys if (key[0], key[1]) not in other_names), None)
        quoted = ", ".join(f'"{name}"' for name in extra[:3])
        instead = ", ".join(f'"{name}"' for name in missing[:3])
        return (
            "deterministic-step-names",
            first,
            f"this run called steps named {quoted}"
            + (f" where the normal run called {instead}" if instead else " that the normal run never called")
            + ". A step's name is the key of its saved result: when it changes, the saved result "
            "is not found and the step runs again.",
        )
    common = min(len(ref_keys), len(other_keys))
    index = next((i for i in range(common) if ref_keys[i] != other_keys[i]), None)
    if index is not None:
        return (
            "deterministic-step-order",
            ref_keys[index],
            f"step #{index + 1} was {_step_label(ref_keys[index])} in the normal run but "
            f"{_step_label(other_keys[index])} in this run. The order of steps must come only from "
            "the event payload and step results.",
        )
    if len(ref_keys) != len(other_keys) and reference.status == other.status == "complete":
        key = ref_keys[common] if common < len(ref_keys) else None
        return (
            "deterministic-step-order",
            key,
            f"the normal run called {len(ref_keys)} steps and this run {len(other_keys)}, both "
            "completing. Which steps run must depend only on the event payload and step results.",
        )
    return None


def _compare_repeat(findings: _Findings, baseline: RunResult, repeat: RunResult) -> None:
    difference = _journal_difference(baseline, repeat)
    if difference is not None:
        rule, key, text = difference
        findings.add(
            rule, f"In {_DESCRIPTIONS['repeat']}, {text}", key=rule,
            step=_step_label(key) if key else None,
            location=_location_of(baseline, key) if key else None, scenario="repeat",
        )
        return
    steps_stable = all(
        (other := repeat.step(step.key)) is not None and other.state == step.state and other.result == step.result
        for step in baseline.steps
    )
    if steps_stable and baseline.status == repeat.status and baseline.output != repeat.output:
        findings.add(
            "state-outside-steps",
            f"run() returned {_short_value(baseline.output)} in the normal run but "
            f"{_short_value(repeat.output)} in {_DESCRIPTIONS['repeat']}, although every step "
            "returned the same: the output is computed outside steps from something that varies "
            "(the time, randomness, global state).",
            key="output", step="run() return value", scenario="repeat",
        )


def _stable(baseline: RunResult, repeat: RunResult | None, step: StepSnapshot) -> bool:
    if repeat is None:
        return True
    other = repeat.step(step.key)
    return other is not None and other.state == step.state and other.result == step.result


def _compare(findings: _Findings, baseline: RunResult, repeat: RunResult | None, other: RunResult) -> None:
    scenario = other.scenario
    description = _DESCRIPTIONS[scenario]
    difference = _journal_difference(baseline, other)
    if difference is not None:
        rule, key, text = difference
        findings.add(
            rule, f"In {description}, {text}", key=rule, step=_step_label(key) if key else None,
            location=_location_of(baseline, key) if key else None, scenario=scenario,
        )
        return
    rule = _DIFFERENCE_RULE[scenario]
    explained = findings.keys_of("state-outside-steps") if rule == "idempotent-steps" else set()
    why = {
        "state-outside-steps": "it depends on state that earlier code kept outside step results "
        "(a variable, a self attribute, a global), and that state is gone or different when run() "
        "runs again.",
        "idempotent-steps": "running a step again (as a retry or after a crash) changed what it or "
        "later steps see.",
    }[rule]
    for step in baseline.steps:
        mirror = other.step(step.key)
        if mirror is None:
            continue
        if ("state-outside-steps", step.key) in explained:
            return
        label = _step_label(step.key)
        if mirror.state != step.state:
            error = mirror.error or step.error or {}
            findings.add(
                rule,
                f"{label} {_STATE_WORDS.get(step.state, step.state)} in the normal run but "
                f"{_STATE_WORDS.get(mirror.state, mirror.state)}"
                + (f" ({error.get('name')}: {error.get('message')})" if error else "")
                + f" in {description}: {why}",
                key=(rule, step.key), step=label, location=_location_of(baseline, step.key), scenario=scenario,
            )
            return
        if step.kind == "do" and step.state == "ok" and step.result != mirror.result and _stable(baseline, repeat, step):
            findings.add(
                rule,
                f"{label} returned {_short_value(step.result)} in the normal run but "
                f"{_short_value(mirror.result)} in {description}: {why}",
                key=(rule, step.key), step=label, location=_location_of(baseline, step.key), scenario=scenario,
            )
            return
    output_stable = repeat is None or (repeat.status == baseline.status and repeat.output == baseline.output)
    if ("state-outside-steps", "output") in explained:
        return
    if other.status != baseline.status or (output_stable and other.output != baseline.output):
        findings.add(
            rule,
            f"the normal run ended {baseline.outcome()} with output {_short_value(baseline.output)}, "
            f"but {description} ended {other.outcome()} with output {_short_value(other.output)}: {why}",
            key=(rule, "output"), step="run() return value", scenario=scenario,
        )


def _check_injection(findings: _Findings, baseline: RunResult, injection: _Injection, result: RunResult) -> None:
    handler = injection.handler
    label = _step_label(injection.key)
    classes = ", ".join(handler.class_names)
    if handler.injectable == "TimeoutError":
        arrives = (
            "a timed-out step or event wait reaches run() as cfwf_emulator.WorkflowTimeoutError "
            "(a StepError carrying \"Execution timed out after ...\"), which is not a TimeoutError"
        )
        injected = "a timeout was forced on the step"
        fix = (
            "Catch Exception (or cfwf_emulator.WorkflowTimeoutError) and check that str(e) "
            "contains \"timed out\", or give the step a timeout and retries it can live with."
        )
    else:
        arrives = (
            f"an exception raised inside a step reaches run() as cfwf_emulator.StepError (on "
            f"Cloudflare, a generic error) with .name == \"{handler.injectable}\"; only TypeError, "
            "ValueError and NonRetryableError keep their class"
        )
        injected = f"the step failed with {handler.injectable}"
        fix = None
    outcome = result.outcome()
    handled = (
        "the error went straight past it" if result.status == "errored"
        else "the error was handled by other code, not by that clause"
    )
    findings.add(
        "portable-exceptions",
        f"`{handler.text}` guards {label}, but {arrives}, so this clause can never catch the "
        f"step's errors. When {injected}, the instance ended {outcome} and {handled}; the normal "
        f"run ended {baseline.outcome()}.",
        key=(injection.key, handler.location),
        step=label,
        location=str(handler.location),
        scenario="exceptions",
        fix=fix,
    )
