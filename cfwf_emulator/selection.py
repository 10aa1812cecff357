"""Which steps a test modification selects: one implementation for the engine, the testing API
and the pytest plugin's failure report.

A selection is ``True`` (every step) or a list of ``{"name": str, "index": int}`` selectors (index
1-based, 1 when left out: the occurrence of that name among steps of one kind in one run).
Modifications keyed by one step use :func:`step_key`, ``"name#index"``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["key_name", "selects", "step_key"]


def step_key(name: str, index: int) -> str:
    """The key of the ``index``-th step called ``name`` in the modifications (``"name#index"``)."""
    return f"{name}#{index}"


def key_name(key: str) -> str:
    """The step name in a :func:`step_key` key."""
    return key.rpartition("#")[0]


def selects(selection: Any, name: str, index: int) -> bool:
    """Whether ``selection`` (``True``, a list of selectors, or nothing) picks step ``name``/``index``."""
    if selection is True:
        return True
    if isinstance(selection, list):
        return any(item.get("name") == name and item.get("index", 1) == index for item in selection)
    return False
