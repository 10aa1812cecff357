"""Step configuration: validation with Cloudflare's error text, merge with defaults, backoff."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable

from .durations import DurationError, parse_duration
from .errors import WorkflowFatalError

__all__ = [
    "PRODUCTION_DEFAULTS",
    "ResolvedStepConfig",
    "backoff_delay_ms",
    "resolve_step_config",
]

PRODUCTION_DEFAULTS: dict[str, Any] = {
    "retries": {"limit": 5, "delay": 10_000, "backoff": "exponential"},
    "timeout": "10 minutes",
}
MAX_RETRY_LIMIT = 10_000
BACKOFFS = ("constant", "linear", "exponential")
CONFIG_DOC = "https://developers.cloudflare.com/workflows/build/sleeping-and-retrying/"


@dataclass(frozen=True)
class ResolvedStepConfig:
    """A validated step config with defaults applied.

    ``view`` is what ``ctx["config"]`` shows and ``describe()`` reports (durations in the form the
    user wrote them, no delay function); the other fields are ready for the engine.
    """

    view: dict[str, Any]
    view_json: str
    limit: float
    delay_ms: float | None
    delay_fn: Callable[..., Any] | None
    backoff: str
    timeout_ms: float


def _invalid(name: str, detail: str) -> WorkflowFatalError:
    return WorkflowFatalError(
        f'Step config for "{name}" is in a invalid format. See {CONFIG_DOC} ({detail})'
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_retries(name: str, retries: object) -> None:
    if not isinstance(retries, dict):
        raise _invalid(name, "retries must be an object with limit and delay")
    unknown = set(retries) - {"limit", "delay", "backoff"}
    if unknown:
        raise _invalid(name, f"unknown key(s) in retries: {', '.join(sorted(map(str, unknown)))}")
    if "limit" not in retries or "delay" not in retries:
        raise _invalid(name, "retries needs both limit and delay")
    limit = retries["limit"]
    if not _is_number(limit) or not math.isfinite(limit) or limit < 0:
        raise _invalid(name, f"retries.limit must be a finite number >= 0, got {limit!r}")
    if limit > MAX_RETRY_LIMIT:
        raise _invalid(name, f"retries.limit may be at most {MAX_RETRY_LIMIT}, got {limit!r}")
    delay = retries["delay"]
    if not callable(delay):
        try:
            parse_duration(delay, what="retries.delay")
        except DurationError as exc:
            raise _invalid(name, str(exc)) from None
    if "backoff" in retries and retries["backoff"] not in BACKOFFS:
        raise _invalid(name, f"retries.backoff must be one of {', '.join(BACKOFFS)}")


def _check(name: str, config: object) -> None:
    if not isinstance(config, dict):
        raise _invalid(name, f"the config must be a dict, got {type(config).__name__}")
    unknown = set(config) - {"retries", "timeout", "sensitive"}
    if unknown:
        raise _invalid(name, f"unknown key(s): {', '.join(sorted(map(str, unknown)))}")
    if "retries" in config:
        _check_retries(name, config["retries"])
    if "timeout" in config:
        timeout = config["timeout"]
        try:
            timeout_ms = parse_duration(timeout, what="timeout")
        except DurationError as exc:
            raise _invalid(name, str(exc)) from None
        if timeout_ms == 0:
            raise _invalid(name, "timeout must be greater than 0")
    if "sensitive" in config and config["sensitive"] != "output":
        raise _invalid(name, 'sensitive may only be "output"')


def resolve_step_config(
    name: str, config: object, defaults: dict[str, Any] = PRODUCTION_DEFAULTS
) -> ResolvedStepConfig:
    """Validate ``config`` (None for defaults) and merge it over ``defaults`` as Cloudflare does."""
    if config is None:
        cached = _DEFAULTS_CACHE.get(id(defaults))
        if cached is not None and cached[0] is defaults:
            return cached[1]
        resolved = _resolve(name, {}, defaults)
        _DEFAULTS_CACHE[id(defaults)] = (defaults, resolved)
        return resolved
    return _resolve(name, config, defaults)


_DEFAULTS_CACHE: dict[int, tuple[dict[str, Any], ResolvedStepConfig]] = {}


def _resolve(name: str, config: object, defaults: dict[str, Any]) -> ResolvedStepConfig:
    _check(name, config)
    assert isinstance(config, dict)
    retries = {**defaults["retries"], **config.get("retries", {})}
    merged: dict[str, Any] = {**defaults, **config, "retries": retries}
    delay = retries["delay"]
    view_retries = {k: v for k, v in retries.items() if not (k == "delay" and callable(v))}
    view = {**merged, "retries": view_retries}
    return ResolvedStepConfig(
        view=view,
        view_json=json.dumps(view, separators=(",", ":")),
        limit=float(retries["limit"]),
        delay_ms=None if callable(delay) else parse_duration(delay),
        delay_fn=delay if callable(delay) else None,
        backoff=str(retries.get("backoff", "exponential")),
        timeout_ms=parse_duration(merged["timeout"]),
    )


def backoff_delay_ms(base_ms: float, backoff: str, failed_attempt: int) -> float:
    """The wait after attempt ``failed_attempt`` (1-based) failed: constant, linear, exponential.

    Never raises: a wait too long for a float is ``math.inf`` (a zero base stays zero however many
    attempts failed), for the caller to refuse as ending after the year 9999.
    """
    if backoff == "constant":
        return base_ms
    if backoff == "linear":
        return base_ms * failed_attempt
    try:
        return math.ldexp(base_ms, failed_attempt - 1)  # base * 2**(n-1), exact, no int→float
    except OverflowError:
        return math.inf
