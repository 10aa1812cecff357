"""Which release of Cloudflare's Python SDK (``workers-runtime-sdk``) the user has installed, and
what in the emulator follows it.

``pywrangler sync`` vendors the project's ``workers-runtime-sdk`` into the Worker, so the step
API that runs on Cloudflare is the one in the project's environment. Where releases behave
differently, the emulator does what the installed release does; without one installed it does
what the newest does. Compared releases: 1.5.4, 1.7.0, 1.8.0 to 1.8.6, 1.9.0 and 1.9.5
(``workers/entrypoints.py``, ``workers/utils.py``, ``workers/workflows.js``):

- before 1.8.6 a step's dependencies are memoised by step *name* (two decorated functions with
  one name share a result), and a step's result goes through ``to_js`` (a tuple becomes a list);
  from 1.8.6 they are memoised per decorated function, and results through ``python_to_rpc``,
  which refuses tuples and bytearrays; and a ``depends`` entry that is not a decorated step is
  only found out when the step is awaited, by an ``AttributeError`` (``'str' object has no
  attribute '_step_name'``) after the entries before it ran, where 1.8.6 raises a ``TypeError``
  naming the parameter before any runs;
- before 1.9.0 a ``NonRetryableError`` raised inside a step reaches the Workflows engine as a
  Pyodide ``PythonError`` and is retried like any other error (cloudflare/workers-py#266); from
  1.9.0 the SDK's ``workflows.js`` makes it stop the retries. When its retries are spent, the
  SDK's ``_from_js_error`` rebuilds it from the traceback's last line, so ``run`` receives
  ``NonRetryableError("workers.workflows.NonRetryableError: <message>")``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

__all__ = ["DISTRIBUTION", "SdkBehaviour", "behaviour_of", "installed_sdk", "tuples_as_lists"]

DISTRIBUTION = "workers-runtime-sdk"
_PER_FUNCTION_MEMO = (1, 8, 6)
_NON_RETRYABLE_FIX = (1, 9, 0)


@dataclass(frozen=True)
class SdkBehaviour:
    """What the emulator does where releases of the SDK differ."""

    #: The installed release, or None when none is (the newest behaviour then applies).
    version: str | None
    #: A ``NonRetryableError`` raised in a step stops its retries (1.9.0 on).
    non_retryable_in_steps: bool = True
    #: Dependencies are memoised per decorated function (1.8.6 on), not per step name.
    memoise_per_function: bool = True
    #: Step results that are tuples or bytearrays are refused (1.8.6 on), not converted.
    refuse_tuples: bool = True
    #: A ``depends`` entry that is not a decorated step raises ``TypeError`` before any entry
    #: runs (1.8.6 on), not ``AttributeError`` when its turn comes.
    checks_depends: bool = True


def _release(version: str) -> tuple[int, ...] | None:
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if match is None:
        return None
    return tuple(int(part or 0) for part in match.groups())


def behaviour_of(version: str | None) -> SdkBehaviour:
    """The behaviour of release ``version`` (None or an unreadable version: the newest)."""
    release = None if version is None else _release(version)
    if release is None:
        return SdkBehaviour(version)
    return SdkBehaviour(
        version,
        non_retryable_in_steps=release >= _NON_RETRYABLE_FIX,
        memoise_per_function=release >= _PER_FUNCTION_MEMO,
        refuse_tuples=release >= _PER_FUNCTION_MEMO,
        checks_depends=release >= _PER_FUNCTION_MEMO,
    )


@functools.cache
def installed_sdk() -> SdkBehaviour:
    """The behaviour of the installed ``workers-runtime-sdk`` (read once per process)."""
    try:
        version: str | None = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        version = None
    return behaviour_of(version)


def tuples_as_lists(value: Any) -> Any:
    """``value`` with every tuple a list, as ``to_js`` converts a step result before 1.8.6."""
    if isinstance(value, (tuple, list)):
        return [tuples_as_lists(item) for item in value]
    if isinstance(value, dict):
        return {key: tuples_as_lists(item) for key, item in value.items()}
    return value
