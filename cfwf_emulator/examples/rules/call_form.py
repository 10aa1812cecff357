"""Breaks "step.do has only the decorator form": a step ported from JavaScript as a call.

``await step.do("name", callback)`` is how a JavaScript workflow runs a step. Cloudflare's Python
SDK has only the decorator form, so on Cloudflare this line raises ``TypeError`` (too many
positional arguments) and the workflow fails at its first step.
"""

from __future__ import annotations

from typing import Any

from cfwf_emulator import WorkflowEntrypoint


class ReminderWorkflow(WorkflowEntrypoint):
    """Look up a customer, then send them a reminder."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("look up customer")
        async def look_up_customer() -> dict[str, Any]:
            return {"email": f"{event['payload']['customer']}@example.com"}

        customer = await look_up_customer()

        async def send_reminder() -> str:
            return f"reminded {customer['email']}"

        return await step.do("send reminder", send_reminder)  # BUG: the JavaScript call form
