"""``InstanceModifier``: the methods a ``modify`` callback receives (Cloudflare's seven modifiers).

Each method changes the instance's stored modifications at once; it may be awaited or just
called, so code ported from JavaScript (``await m.disable_sleeps()``) works as it is.
"""

from __future__ import annotations

from typing import Any, Generator, Protocol

from ..errors import NonRetryableError, StepError
from ..serialization import NotSerialisable, RpcTypeError, encode
from ..limits import Limits
from ..selection import step_key
from ..validation import check_mocked_event
from .selector import to_selector

__all__ = ["InstanceModifier", "ModificationRecorder"]

PREFIX = "[WorkflowIntrospector]"


class _Done:
    """What each modifier returns: already done, and awaitable for ported code."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


_DONE = _Done()


def _check_times(times: Any) -> int | None:
    if times is None:
        return None
    if isinstance(times, bool) or not isinstance(times, int):
        raise TypeError(f"times must be a positive int or None (every attempt), got {times!r}")
    if times < 1:
        raise ValueError(f"times must be a positive int or None (every attempt), got {times!r}")
    return times


def _error_record(error: Any) -> dict[str, str]:
    if isinstance(error, (StepError, NonRetryableError)):
        return {"name": error.name, "message": str(error)}
    if isinstance(error, BaseException):
        return {"name": type(error).__name__, "message": str(error)}
    if isinstance(error, dict) and isinstance(error.get("message", ""), str):
        return {"name": str(error.get("name", "Error")), "message": error.get("message", "")}
    raise TypeError(f'mock_step_error needs an exception or {{"name", "message"}}, got {error!r}')


class _Host(Protocol):
    """What a modifier changes: ``emu.api.testing``, or a rehearsal of it (``ModificationRecorder``)."""

    def modifiers_for(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """The modifications of one instance, to change in place."""
        ...

    def save_modifiers(self, workflow: str, instance_id: str) -> None:
        """Keep the changed modifications."""
        ...

    def mock_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any) -> None:
        """Check and deliver a mocked event."""
        ...


class InstanceModifier:
    """Changes what one instance will do: mock results, errors, timeouts and events, skip waits."""

    def __init__(self, host: _Host, workflow: str, instance_id: str) -> None:
        self._host = host
        self._workflow = workflow
        self._id = instance_id

    def _mods(self) -> dict[str, Any]:
        return self._host.modifiers_for(self._workflow, self._id)

    def _saved(self) -> _Done:
        self._host.save_modifiers(self._workflow, self._id)
        return _DONE

    def _select(self, key: str, steps: Any) -> _Done:
        if steps is not None and not isinstance(steps, (list, tuple)):
            raise TypeError(
                f'{key}(steps): steps must be a list of step selectors (names or {{"name": str, '
                f'"index": int}}), or None for every step; got {steps!r}, e.g. write {key}(["my step"])'
            )
        mods = self._mods()
        if steps is None:
            mods[key] = True
        else:
            selectors = [to_selector(step).as_dict() for step in steps]
            current = mods.get(key)
            if current is not True:
                mods[key] = list(current or []) + selectors
        return self._saved()

    def disable_sleeps(self, steps: Any = None) -> _Done:
        """Every sleep (or only the selected ones) completes at once, also sleeps already started."""
        return self._select("disable_sleeps", steps)

    def disable_retry_delays(self, steps: Any = None) -> _Done:
        """Retries (of every step, or the selected ones) happen without waiting."""
        return self._select("disable_retry_delays", steps)

    def mock_step_result(self, step: Any, result: Any) -> _Done:
        """The selected ``step.do`` returns ``result`` without running its callback (falsy values too)."""
        selector = to_selector(step)
        key = step_key(selector.name, selector.index)
        results = self._mods().setdefault("results", {})
        if key in results:
            raise RuntimeError(f"{PREFIX} Trying to mock step '{selector.name}' multiple times!")
        try:
            results[key] = encode(result)
        except (NotSerialisable, RpcTypeError) as exc:
            raise TypeError(f"{PREFIX} the mocked result of step '{selector.name}' is not serialisable: {exc}") from None
        return self._saved()

    def _failure(self, step: Any, entry: dict[str, Any], what: str) -> _Done:
        selector = to_selector(step)
        key = step_key(selector.name, selector.index)
        mods = self._mods()
        if key in mods.get("results", {}):
            raise RuntimeError(f"{PREFIX} Trying to {what} on step '{selector.name}' after mocking its result!")
        mods.setdefault("failures", {}).setdefault(key, []).append(entry)
        return self._saved()

    def mock_step_error(self, step: Any, error: Any, times: int | None = None) -> _Done:
        """The next ``times`` attempts (every attempt when None) fail with ``error``'s name and message."""
        entry = {"kind": "error", "error": _error_record(error), "times": _check_times(times)}
        return self._failure(step, entry, "mock error")

    def force_step_timeout(self, step: Any, times: int | None = None) -> _Done:
        """The next ``times`` attempts (every attempt when None) time out at once."""
        entry = {"kind": "timeout", "error": None, "times": _check_times(times)}
        return self._failure(step, entry, "force timeout")

    def mock_event(self, event: Any) -> _Done:
        """Send ``{"type", "payload"}`` now; it also survives restarts of the instance.

        The type follows the same rule as ``send_event`` and ``wait_for_event``.
        """
        if not isinstance(event, dict) or "type" not in event:
            raise TypeError(f'mock_event needs {{"type": str, "payload": ...}}, got {event!r}')
        unknown = sorted(map(repr, set(event) - {"type", "payload"}))
        if unknown:
            raise TypeError(f"mock_event: unknown key(s) {', '.join(unknown)}; an event has type and payload")
        self._host.mock_event(self._workflow, self._id, event["type"], event.get("payload"))
        return _DONE

    def force_event_timeout(self, step: Any) -> _Done:
        """The selected ``wait_for_event`` times out as soon as it is reached."""
        selector = to_selector(step)
        timeouts = self._mods().setdefault("event_timeouts", [])
        timeouts.append(step_key(selector.name, selector.index))
        return self._saved()

    # JavaScript names, for code ported from Cloudflare's Vitest tests.
    disableSleeps = disable_sleeps
    disableRetryDelays = disable_retry_delays
    mockStepResult = mock_step_result
    mockStepError = mock_step_error
    forceStepTimeout = force_step_timeout
    mockEvent = mock_event
    forceEventTimeout = force_event_timeout


class _Rehearsal:
    """Stands in for ``emu.api.testing`` while ``modify_all`` records: every check runs, nothing is kept."""

    def __init__(self, event_type_length: int) -> None:
        self._modifiers: dict[str, Any] = {}
        self._event_type_length = event_type_length

    def modifiers_for(self, workflow: str, instance_id: str) -> dict[str, Any]:
        """The rehearsal's own modifications."""
        return self._modifiers

    def save_modifiers(self, workflow: str, instance_id: str) -> None:
        """Nothing to keep."""

    def mock_event(self, workflow: str, instance_id: str, event_type: Any, payload: Any) -> None:
        """Check the event as ``emu.api.testing`` would (with the workflow's event type limit)."""
        check_mocked_event(event_type, payload, self._event_type_length)


class ModificationRecorder:
    """What ``modify_all`` callbacks receive: the same methods, recorded to replay on each new instance."""

    _METHODS = (
        "disable_sleeps", "disable_retry_delays", "mock_step_result", "mock_step_error",
        "force_step_timeout", "mock_event", "force_event_timeout",
    )

    def __init__(self, event_type_length: int = Limits().event_type_length) -> None:
        self.operations: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._rehearsal = InstanceModifier(_Rehearsal(event_type_length), "", "")

    def __getattr__(self, name: str) -> Any:
        method = {"disableSleeps": "disable_sleeps", "disableRetryDelays": "disable_retry_delays",
                  "mockStepResult": "mock_step_result", "mockStepError": "mock_step_error",
                  "forceStepTimeout": "force_step_timeout", "mockEvent": "mock_event",
                  "forceEventTimeout": "force_event_timeout"}.get(name, name)
        if method not in self._METHODS:
            raise AttributeError(name)

        def record(*args: Any, **kwargs: Any) -> _Done:
            getattr(self._rehearsal, method)(*args, **kwargs)  # wrong arguments fail here, not at create
            self.operations.append((method, args, kwargs))
            return _DONE

        return record

    def apply(self, modifier: InstanceModifier) -> None:
        """Replay the recorded operations onto one instance."""
        for method, args, kwargs in self.operations:
            getattr(modifier, method)(*args, **kwargs)
