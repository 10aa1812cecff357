"""The reference model: a small, deliberately plain simulation of what an instance running a
conformance program (see ``programs.py``) is observed to do. It imports nothing from
``cfwf_emulator``; every rule below cites the spec (``/work/shared/spec/cloudflare-workflows.md``)
or the public contract (``API.md``) it encodes.

One :class:`ModelInstance` is one instance. Time is in ms from its creation. The instance is
*active* (running or waiting), ``paused`` or terminal (``complete``, ``errored``, ``terminated``).
While active it is either finished or *blocked* on exactly one thing with a deadline: a retry
delay, a sleep, an event wait, or a hanging attempt (its step timeout).
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

__all__ = ["DEFAULT_CONFIG", "ModelInstance", "predict"]

# §2.1 / API.md: production defaults. limit counts retries (limit + 1 attempts).
DEFAULT_CONFIG = {"retries": {"limit": 5, "delay": 10_000, "backoff": "exponential"}, "timeout": 600_000}
TERMINAL = ("complete", "errored", "terminated")


def resolve_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """§2.1 merge rule: ``{...defaults, ...user, retries: {...defaults.retries, ...user.retries}}``."""
    user = config or {}
    retries = {**DEFAULT_CONFIG["retries"], **(user.get("retries") or {})}
    return {"limit": retries["limit"], "delay": retries["delay"], "backoff": retries["backoff"],
            "timeout": user.get("timeout", DEFAULT_CONFIG["timeout"])}


def retry_delay(cfg: dict[str, Any], failed_attempt: int) -> int:
    """§2.4: constant d, linear d*n, exponential d*2^(n-1); n = the attempt that just failed."""
    d, n = cfg["delay"], failed_attempt
    if cfg["backoff"] == "constant":
        return d
    if cfg["backoff"] == "linear":
        return d * n
    return d * 2 ** (n - 1)


def timeout_error(ms: int) -> dict[str, str]:
    """§2.10 / API.md: step and event timeouts."""
    return {"name": "WorkflowTimeoutError", "message": f"Execution timed out after {ms}ms"}


class ModelInstance:
    """One instance running ``program``; drive it with :meth:`advance_to` and :meth:`apply`."""

    def __init__(self, program: dict[str, Any], now: int = 0) -> None:
        self.steps = program["steps"]
        self.t = now
        self.status = "active"
        self.events: list[tuple[str, Any]] = []  # §3.6: buffered events, FIFO per type
        self.paused_at: int | None = None
        #: (start, end) of every hanging attempt: an outside action inside one is not modelled,
        #: because the emulator's driver lets the hanging callback's real time run first.
        self.hang_windows: list[tuple[int, int]] = []
        self.collision = False
        self._reset_run()
        self._run()

    # -- the run ------------------------------------------------------------------------------

    def _reset_run(self) -> None:
        self.pc = 0
        self.outcomes: list[Any] = []
        self.counts: dict[str, int] = {}
        self.journal: dict[str, list[int]] = {}  # "<name>#<count>" -> attempt start offsets
        self.current: dict[str, Any] | None = None  # the do step in progress
        self.block: dict[str, Any] | None = None
        self.output: Any = None
        self.error: dict[str, str] | None = None

    def _finish(self, status: str, error: dict[str, str] | None = None) -> None:
        self.status = status
        self.block = None
        self.current = None
        if status == "complete":
            self.output = copy.deepcopy(self.outcomes)  # §3.4: run resolves -> output
        self.error = error

    def _step_done(self, outcome: Any) -> None:
        self.outcomes.append(outcome)
        self.pc += 1
        self.current = None

    def _step_failed(self, spec: dict[str, Any], error: dict[str, str]) -> None:
        """§3.3 end / §3.4: the final error reaches run; caught -> recorded, else instance errored."""
        if spec.get("catch"):
            self._step_done({"caught": error["name"]})
        else:
            self._finish("errored", error)

    def _run(self) -> None:
        """Execute from the current position until blocked in the future, finished or not active."""
        while self.status == "active":
            if self.block is not None:
                if self.block["deadline"] > self.t:
                    return
                self._wake()
                continue
            if self.pc == len(self.steps):
                self._finish("complete")
                return
            spec = self.steps[self.pc]
            if spec["op"] == "do":
                if self.current is None:
                    # §3.2: the occurrence count is per step name (and kind) within the run
                    count = self.counts[spec["name"]] = self.counts.get(spec["name"], 0) + 1
                    key = f"{spec['name']}#{count}"
                    self.journal[key] = []
                    self.current = {"key": key, "attempt": 0, "cfg": resolve_config(spec.get("config"))}
                self._attempt(spec)
            elif spec["op"] == "sleep":
                self.block = {"kind": "sleep", "deadline": self.t + spec["ms"]}
            elif spec["op"] == "wait":
                if not self._take_event(spec):
                    self.block = {"kind": "wait", "type": spec["type"], "deadline": self.t + spec["timeout_ms"]}
            else:
                raise ValueError(f"unknown op {spec['op']!r}")

    def _attempt(self, spec: dict[str, Any]) -> None:
        current = self.current
        assert current is not None
        current["attempt"] += 1
        n = current["attempt"]
        self.journal[current["key"]].append(self.t)
        fail = spec.get("fail_attempts", 0)
        hang = spec.get("hang_attempts", 0) or 0
        if n <= fail:
            message = f"fail {spec['name']} {n}"
            if spec.get("error") == "non_retryable":
                # §1.8/§3.3 step 9: no further attempts; §3.4 (preserved message, newest
                # compatibility): uncaught -> {"name": "NonRetryableError", "message": message}
                self._step_failed(spec, {"name": "NonRetryableError", "message": message})
            else:
                # API.md §1: any other exception keeps its class name (ProgramError)
                self._attempt_failed(spec, {"name": "ProgramError", "message": message})
        elif n <= fail + hang:
            deadline = self.t + current["cfg"]["timeout"]
            self.hang_windows.append((self.t, deadline))
            self.block = {"kind": "hang", "deadline": deadline}
        else:
            self._step_done(copy.deepcopy(spec["result"]))

    def _attempt_failed(self, spec: dict[str, Any], error: dict[str, str]) -> None:
        """§3.3 step 10: retry while attempts <= limit, after the backoff delay; else fail."""
        current = self.current
        assert current is not None
        n = current["attempt"]
        if n <= current["cfg"]["limit"]:
            self.block = {"kind": "retry", "deadline": self.t + retry_delay(current["cfg"], n)}
        else:
            self._step_failed(spec, error)

    def _wake(self) -> None:
        """The blocking deadline has come (self.t is at or past it)."""
        block = self.block
        assert block is not None
        self.block = None
        spec = self.steps[self.pc]
        if block["kind"] == "retry":
            self._attempt(spec)
        elif block["kind"] == "hang":
            self._attempt_failed(spec, timeout_error(self.current["cfg"]["timeout"]))  # type: ignore[index]
        elif block["kind"] == "sleep":
            self._step_done(None)
        else:
            # §3.6: timeout -> WorkflowTimeoutError; the waiter is removed, so it takes no later event
            self._step_failed(spec, timeout_error(spec["timeout_ms"]))

    def _take_event(self, spec: dict[str, Any]) -> bool:
        """§3.6: take the oldest buffered event of the waited type, if any."""
        for index, (event_type, payload) in enumerate(self.events):
            if event_type == spec["type"]:
                del self.events[index]
                self.block = None
                self._step_done(copy.deepcopy(payload))
                return True
        return False

    # -- time and outside actions -------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        """When the instance next does something by itself (None when it never will)."""
        if self.status == "active" and self.block is not None:
            return int(self.block["deadline"])
        return None

    def advance_to(self, t: int) -> None:
        """Let time pass to ``t``: every deadline at or before ``t`` fires, in order."""
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > t:
                break
            self.t = max(self.t, deadline)
            self._run()
        self.t = max(self.t, t)

    def run_until_idle(self) -> None:
        """Jump from deadline to deadline until nothing is left (every wait has a timeout)."""
        while (deadline := self.next_deadline()) is not None:
            self.advance_to(deadline)

    def apply(self, entry: dict[str, Any]) -> str | None:
        """Apply an outside action now; return the WorkflowError code it raises, or None."""
        for start, end in self.hang_windows:
            if start <= self.t < end:
                self.collision = True
        kind = entry["action"]
        if kind == "event":
            if self.status in TERMINAL:
                return "instance.not_running"  # README fidelity table: send_event to a finished instance
            self.events.append((entry["type"], copy.deepcopy(entry.get("payload"))))
            block = self.block
            if self.status == "active" and block is not None and block["kind"] == "wait" and block["type"] == entry["type"]:
                self._take_event(self.steps[self.pc])
                self._run()
        elif kind == "pause":
            # §3.8: pause of a running/waiting instance (nothing in flight) -> paused, run stops;
            # paused or terminal -> no effect
            if self.status == "active":
                self.status = "paused"
                self.paused_at = self.t
        elif kind == "resume":
            # §3.8 / §3.5: resume replays with every pending timer shifted by the pause length;
            # not paused -> no effect
            if self.status == "paused":
                assert self.paused_at is not None
                if self.block is not None:
                    self.block["deadline"] += self.t - self.paused_at
                self.paused_at = None
                self.status = "active"
                block = self.block
                if block is not None and block["kind"] == "wait":
                    self._take_event(self.steps[self.pc])  # an event sent during the pause
                self._run()
        elif kind == "terminate":
            # §3.9: a terminal instance cannot be terminated; otherwise terminated, no error
            if self.status in TERMINAL:
                return "instance.cannot_terminate"
            self._finish("terminated")
            self.paused_at = None
        elif kind == "restart":
            # §3.10: from any status: wipe the journal, buffered events and pause, run from the top
            self._reset_run()
            self.events = []
            self.paused_at = None
            self.status = "active"
            self._run()
        else:
            raise ValueError(f"unknown action {kind!r}")
        return None

    # -- what is observed -----------------------------------------------------------------------

    def visible_status(self) -> str:
        """The status ``status()`` shows at rest: an active instance at rest waits on a timer."""
        if self.status == "active":
            return "waiting" if self.block is not None else "running"
        return self.status

    def observation(self) -> dict[str, Any]:
        """The observation, in the shared format."""
        return {
            "status": self.visible_status(),
            "output": copy.deepcopy(self.output) if self.status == "complete" else None,
            "error": dict(self.error) if self.status == "errored" and self.error else None,
            "attempts": {key: len(starts) for key, starts in self.journal.items()},
            "attempt_starts_ms": {key: list(starts) for key, starts in self.journal.items()},
        }


def predict(
    program: dict[str, Any], schedule: Iterable[dict[str, Any]] = (), trace: list[Any] | None = None
) -> tuple[dict[str, Any], bool]:
    """The predicted observation of ``program`` under ``schedule``, and whether the schedule
    collided with a hanging attempt (then the prediction does not apply)."""
    model = ModelInstance(program)
    for entry in sorted(schedule, key=lambda e: e["at_ms"]):
        model.advance_to(entry["at_ms"])
        code = model.apply(entry)
        if trace is not None:
            trace.append(code)
    model.run_until_idle()
    return model.observation(), model.collision
