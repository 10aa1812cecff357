"""Hypothesis profiles for the conformance suites.

``default`` is fast (the whole ``python -m pytest -q conformance`` run stays within about two
minutes on two cores); ``deep`` runs many more examples and longer state-machine runs:

    python -m pytest -q conformance --hypothesis-profile=deep

Every profile has ``deadline=None``: SQLite-backed examples and hanging attempts (which take a
few real milliseconds) would otherwise trip hypothesis' per-example deadline. Tests scale their
example counts from the loaded profile with :func:`examples`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# `python -m pytest conformance` from the repository root imports this package as `conformance`;
# make that work from any working directory too
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

settings.register_profile("default", max_examples=150, stateful_step_count=30, **_COMMON)
settings.register_profile("deep", max_examples=2_000, stateful_step_count=60, **_COMMON)
settings.load_profile("default")  # `--hypothesis-profile=NAME` loads NAME afterwards
