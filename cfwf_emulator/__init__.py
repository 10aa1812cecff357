"""cfwf-emulator: Cloudflare Workflows, in-process, in real or virtual time.

Public names (everything else is private and may change)::

    from cfwf_emulator import Emulator, WorkflowEntrypoint, NonRetryableError
"""

from __future__ import annotations

from .authoring.entrypoint import WorkflowEntrypoint
from .bindings import Workflow, WorkflowInstance
from .clock import RealClock, VirtualClock
from .emulator import Emulator
from .errors import (
    ConfigError,
    ConfigWarning,
    NonRetryableError,
    StalledError,
    StepError,
    WorkflowError,
    WorkflowFatalError,
    WorkflowTimeoutError,
)
from .hooks import ObserverWarning
from .limits import Limits
from .store.base import StateReadOnlyError, StorageWarning
from .store.lock import StateLockedError
from .store.sqlite import StoreError

__all__ = [
    "ConfigError",
    "ConfigWarning",
    "Emulator",
    "Limits",
    "NonRetryableError",
    "ObserverWarning",
    "RealClock",
    "StalledError",
    "StateLockedError",
    "StateReadOnlyError",
    "StepError",
    "StorageWarning",
    "StoreError",
    "VirtualClock",
    "Workflow",
    "WorkflowEntrypoint",
    "WorkflowError",
    "WorkflowFatalError",
    "WorkflowInstance",
    "WorkflowTimeoutError",
]

__version__ = "0.1.0"
