"""Observations from both backends, normalised for the documented differences, and compared.

An observation is the shared format's dict::

    {"status", "output", "error": {"name", "message"} | None,
     "attempts": {"<name>#<count>": int}, "attempt_starts_ms": {"<name>#<count>": [int, ...]}}

Documented LOCAL-vs-production differences that are normalised away (spec §2.1, §3.4, §3.7,
§3.13; README Fidelity table):

- LOCAL reports ``running`` where production and the emulator report ``waiting``;
- LOCAL's ``output`` is ``null`` until completion (the emulator's is ``None``: the same in JSON);
- LOCAL errors cross RPC as ``Error`` with the class folded into the message
  (``"WorkflowTimeoutError: Execution timed out after 500ms"``, ``"NonRetryableError: ..."``);
- a plain JavaScript ``Error`` corresponds to whatever generic exception the Python interpreter
  raises (``Exception``, ``RuntimeError``, or ``StepError`` carrying one of those names);
- LOCAL's status carries extra keys (``__LOCAL_DEV_STEP_OUTPUTS``) that are ignored.

The default retry delay (1 s LOCAL, 10 s production) is not normalised: the generator always
gives an explicit config to any step that can fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: engine error classes whose name LOCAL folds into the message as "<Name>: <message>"
FOLDED_NAMES = (
    "WorkflowTimeoutError",
    "NonRetryableError",
    "WorkflowFatalError",
    "WorkflowInternalError",
    "NonRetryableDelayError",
)
#: the names a plain failing attempt may carry: JavaScript's Error, Python's generic exceptions
GENERIC_NAMES = frozenset({"Error", "Exception", "RuntimeError", "StepError", "StepFailure", "ProgramError"})
_FOLDED = re.compile(r"^(%s): ?(.*)$" % "|".join(FOLDED_NAMES), re.S)
_TIMEOUT = re.compile(r"^Execution timed out after \d+ms$")

#: Attempt start times are compared gap by gap: all attempts in start order, and the time from
#: one to the next (and from creation to the first).  LOCAL runs in real time with overheads of a
#: few ms per step (RPC, storage, logging) that accumulate, so absolute offsets drift; a gap may
#: be at most TIMING_LATE_MS longer than the emulator's, or TIMING_EARLY_MS shorter (a timer that
#: fires early would be a real difference).  The first attempt may start up to TIMING_FIRST_MS late.
#: With pause/resume in the schedule LOCAL measures the pause from its own arrival times of the two
#: requests, so a gap spanning a pause may also be up to TIMING_PAUSE_EARLY_MS shorter.
TIMING_LATE_MS = 250
TIMING_EARLY_MS = 50
TIMING_PAUSE_EARLY_MS = 150
TIMING_FIRST_MS = 600


def canon_error(name: Any, message: Any) -> dict[str, str]:
    """One error as ``{"name", "message"}`` with the documented naming differences removed."""
    name = "Error" if name is None else str(name)
    message = "" if message is None else str(message)
    m = _FOLDED.match(message)
    if m and (name in GENERIC_NAMES or name == m.group(1)):
        name, message = m.group(1), m.group(2)
    if name in GENERIC_NAMES:
        if _TIMEOUT.match(message):
            name = "WorkflowTimeoutError"
        else:
            name = "Error"
    return {"name": name, "message": message}


def canon_status(status: Any) -> str:
    status = str(status)
    return "running|waiting" if status in ("running", "waiting") else status


def _canon_output(output: Any, program: dict[str, Any], caught: dict[str, Any] | None) -> Any:
    """Per-step outcomes with caught error names canonicalised.

    ``caught`` (LOCAL only) maps the step index (a str) to the last ``{name, message}`` the
    JavaScript interpreter caught there, so a folded name can be recovered; the emulator reports
    precise names.
    """
    if not isinstance(output, list):
        return output
    out = []
    steps = program.get("steps", [])
    for i, value in enumerate(output):
        is_catch_step = i < len(steps) and steps[i].get("catch") and steps[i]["op"] in ("do", "wait")
        if is_catch_step and isinstance(value, dict) and set(value) == {"caught"}:
            info = (caught or {}).get(str(i))
            if info is not None:
                value = {"caught": canon_error(info.get("name"), info.get("message"))["name"]}
            else:
                value = {"caught": canon_error(value["caught"], "")["name"]}
        out.append(value)
    return out


def local_observation(raw: dict[str, Any], t0_ms: float) -> dict[str, Any]:
    """The LOCAL ``/status`` response turned into an observation (still un-normalised)."""
    status = raw.get("status") or {}
    log = raw.get("log") or {}
    attempts: dict[str, int] = {}
    starts: dict[str, list[int]] = {}
    for entry in log.get("attempts", []):
        key = entry["key"]
        attempts[key] = attempts.get(key, 0) + 1
        starts.setdefault(key, []).append(int(round(entry["t"] - t0_ms)))
    err = status.get("error")
    return {
        "status": status.get("status"),
        "output": status.get("output"),
        "error": {"name": err.get("name"), "message": err.get("message")} if err else None,
        "attempts": attempts,
        "attempt_starts_ms": starts,
        "_caught": last_caught(log.get("caught")),
        "_caught_all": list(log.get("caught") or []),
    }


def last_caught(caught: Any) -> dict[str, dict[str, Any]]:
    """``{"<step index>": {name, message}}`` of the last error caught at each step."""
    if isinstance(caught, dict):  # older logs: already keyed by index
        return {str(k): v for k, v in caught.items()}
    result: dict[str, dict[str, Any]] = {}
    for entry in caught or []:
        result[str(entry.get("index"))] = {"name": entry.get("name"), "message": entry.get("message")}
    return result


def normalise(obs: dict[str, Any], program: dict[str, Any]) -> dict[str, Any]:
    """Either backend's observation with the documented differences removed."""
    err = obs.get("error")
    status = canon_status(obs.get("status"))
    return {
        "status": status,
        "output": _canon_output(obs.get("output"), program, obs.get("_caught")),
        # LOCAL keeps no error for non-errored instances either; only compare it when errored
        "error": canon_error(err.get("name"), err.get("message")) if err and status == "errored" else None,
        "attempts": {k: int(v) for k, v in (obs.get("attempts") or {}).items() if v},
        "attempt_starts_ms": {
            k: [int(round(x)) for x in v] for k, v in (obs.get("attempt_starts_ms") or {}).items() if v
        },
    }


@dataclass(frozen=True)
class Diff:
    field: str
    local: Any
    emulator: Any
    signature: str  # the disagreement's class, for grouping


def timing_deviation(
    local: dict[str, list[int]], emulator: dict[str, list[int]], early_ms: float = TIMING_EARLY_MS
) -> float | None:
    """The worst gap deviation beyond tolerance (None when within it); keys must agree."""
    pairs: list[tuple[int, int]] = []
    for key, ls in local.items():
        es = emulator.get(key, [])
        if len(ls) != len(es):
            return float("inf")
        pairs.extend(zip(ls, es))
    pairs.sort()
    worst: float | None = None
    prev_l = prev_e = 0
    for i, (lt, et) in enumerate(pairs):
        dev = (lt - prev_l) - (et - prev_e)
        late = TIMING_FIRST_MS if i == 0 else TIMING_LATE_MS
        if dev > late or dev < -early_ms:
            worst = dev if worst is None or abs(dev) > abs(worst) else worst
        prev_l, prev_e = lt, et
    return worst


def compare(local: dict[str, Any], emulator: dict[str, Any], early_ms: float = TIMING_EARLY_MS) -> list[Diff]:
    """Field-by-field comparison of two *normalised* observations.

    ``early_ms``: how much shorter than the emulator's a LOCAL gap between attempt starts may be
    (see :data:`TIMING_PAUSE_EARLY_MS` for schedules with pauses).
    """
    diffs: list[Diff] = []
    if local["status"] != emulator["status"]:
        diffs.append(Diff("status", local["status"], emulator["status"],
                          f"status: local {local['status']} / emulator {emulator['status']}"))
    if local["error"] != emulator["error"]:
        ln = (local["error"] or {}).get("name")
        en = (emulator["error"] or {}).get("name")
        sig = f"error: local {ln} / emulator {en}" if ln != en else f"error message ({ln})"
        diffs.append(Diff("error", local["error"], emulator["error"], sig))
    if local["output"] != emulator["output"]:
        diffs.append(Diff("output", local["output"], emulator["output"], _output_signature(local["output"], emulator["output"])))
    if local["attempts"] != emulator["attempts"]:
        keys = sorted(set(local["attempts"]) | set(emulator["attempts"]))
        more = [k for k in keys if local["attempts"].get(k, 0) > emulator["attempts"].get(k, 0)]
        fewer = [k for k in keys if local["attempts"].get(k, 0) < emulator["attempts"].get(k, 0)]
        sig = "attempts: " + ("local has more" if more and not fewer else "local has fewer" if fewer and not more else "mixed")
        diffs.append(Diff("attempts", local["attempts"], emulator["attempts"], sig))
    else:
        worst = timing_deviation(local["attempt_starts_ms"], emulator["attempt_starts_ms"], early_ms)
        if worst is not None:
            sig = ("attempt timing: a LOCAL gap is longer than the emulator's (real-time overhead)"
                   if worst > 0 else "attempt timing: a LOCAL gap is shorter than the emulator's")
            diffs.append(Diff("attempt_starts_ms", local["attempt_starts_ms"], emulator["attempt_starts_ms"], sig))
    return diffs


def _output_signature(local: Any, emulator: Any) -> str:
    if not (isinstance(local, list) and isinstance(emulator, list)):
        return f"output: local {type(local).__name__} / emulator {type(emulator).__name__}"
    if len(local) != len(emulator):
        return "output: different lengths"
    for a, b in zip(local, emulator):
        if a != b:
            if isinstance(a, dict) and isinstance(b, dict) and "caught" in a and "caught" in b:
                return f"output: caught {a['caught']} / {b['caught']}"
            if isinstance(b, dict) and "caught" in b or isinstance(a, dict) and "caught" in a:
                return "output: caught on one side only"
            return f"output: value {type(a).__name__} / {type(b).__name__}"
    return "output: differs"
