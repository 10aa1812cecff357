"""Step selectors: which occurrence of a named step a modification or waiter targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["StepSelector", "to_selector"]


@dataclass(frozen=True)
class StepSelector:
    """The ``index``-th (1-based) step called ``name`` among steps of its kind in one run."""

    name: str
    index: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"a step selector needs a non-empty str name, got {self.name!r}")
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 1:
            raise ValueError(f"a step selector's index is 1-based, got {self.index!r}")

    def as_dict(self) -> dict[str, Any]:
        """``{"name": ..., "index": ...}``."""
        return {"name": self.name, "index": self.index}


def to_selector(step: Any) -> StepSelector:
    """Accept ``StepSelector``, ``{"name": str, "index": int}`` (index 0/omitted = 1), or a name."""
    if isinstance(step, StepSelector):
        return step
    if isinstance(step, str):
        return StepSelector(step)
    if isinstance(step, dict):
        unknown = set(step) - {"name", "index"}
        if unknown:
            raise TypeError(f"a step selector has only name and index, got {sorted(unknown)}")
        return StepSelector(step.get("name"), step.get("index") or 1)  # type: ignore[arg-type]
    raise TypeError(
        f'a step selector is a name, {{"name": str, "index": int}} or a StepSelector, got {step!r}'
    )
