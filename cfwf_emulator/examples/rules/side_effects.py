"""Breaks "put side effects inside steps": the KV write happens in ``run``, outside any step.

Code outside steps runs again on every replay, so the welcome flag is written again each time;
if it sent an e-mail instead, the customer would get one per replay. Needs ``env.USERS`` (KV).
"""

from __future__ import annotations

from typing import Any

from cfwf_emulator import WorkflowEntrypoint


class WelcomeWorkflow(WorkflowEntrypoint):
    """Create a user, mark them welcomed, then send the first newsletter."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("create user")
        async def create_user() -> dict[str, Any]:
            return {"id": event["payload"]["user_id"]}

        user = await create_user()
        await self.env.USERS.put(f"welcomed:{user['id']}", "yes")  # BUG: side effect outside a step

        @step.do("send newsletter")
        async def send_newsletter() -> str:
            return f"newsletter for {user['id']}"

        return await send_newsletter()
