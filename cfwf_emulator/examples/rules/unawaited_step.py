"""Breaks "always await your steps": the audit step is called but never awaited.

Calling a ``@step.do`` function returns a coroutine; without ``await`` the step never runs, nothing fails and
the audit entry silently never happens.
"""

from __future__ import annotations

from typing import Any

from cfwf_emulator import WorkflowEntrypoint


class SignupWorkflow(WorkflowEntrypoint):
    """Create an account and (try to) write an audit entry."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("create account")
        async def create_account() -> dict[str, Any]:
            return {"user": event["payload"]["email"]}

        account = await create_account()

        @step.do("write audit entry")
        async def audit() -> str:
            return f"signed up {account['user']}"

        audit()  # BUG: missing await
        return account
