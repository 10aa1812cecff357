"""The crash harness project's main module: the workflow class lives in ``tests.crash.workflow``."""

from tests.crash.workflow import CrashFlow

__all__ = ["CrashFlow"]
