"""Workflows limits (Cloudflare's Paid plan by default, or the Free plan), all configurable."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import ConfigError

__all__ = ["Limits", "resolve_limits"]

MIB = 1024 * 1024
DAY_MS = 86_400_000.0


@dataclass(frozen=True)
class Limits:
    """The limits an emulator enforces; ``Limits.paid()`` and ``Limits.free()`` are the plans.

    ``steps`` counts ``step.do`` calls per run of an instance (sleeps do not count); it can be
    lowered or raised per workflow with ``limits.steps`` in the wrangler config.
    """

    steps: int = 10_000
    step_result_bytes: int = MIB
    event_payload_bytes: int = MIB
    max_sleep_ms: float = 365 * DAY_MS
    min_event_timeout_ms: float = 1_000.0
    max_event_timeout_ms: float = 365 * DAY_MS
    instance_id_length: int = 100
    batch_size: int = 100
    step_name_length: int = 256
    event_type_length: int = 100

    @classmethod
    def paid(cls) -> "Limits":
        """The Workers Paid plan's limits (the default)."""
        return cls()

    @classmethod
    def free(cls) -> "Limits":
        """The Workers Free plan's limits (1,024 steps per instance)."""
        return cls(steps=1_024)

    def with_steps(self, steps: int) -> "Limits":
        """A copy with another per-instance step limit (``limits.steps`` in wrangler config)."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"limits.steps must be a positive integer, got {steps!r}")
        return replace(self, steps=steps)


def resolve_limits(value: "str | Limits | None") -> Limits:
    """``"paid"`` (default), ``"free"`` or a :class:`Limits` instance."""
    if value is None or value == "paid":
        return Limits.paid()
    if value == "free":
        return Limits.free()
    if isinstance(value, Limits):
        return value
    raise ConfigError(f'limits must be "paid", "free" or a cfwf_emulator.Limits, got {value!r}')
