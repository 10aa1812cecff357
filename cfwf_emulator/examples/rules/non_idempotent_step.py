"""Breaks "steps must be safe to run more than once": the step adds points with read-modify-write.

If the step runs again after it wrote (a crash before its result was saved, or a retry after a
later failure), the customer gets the points twice. Needs ``env.POINTS`` (KV).
"""

from __future__ import annotations

from typing import Any

from cfwf_emulator import WorkflowEntrypoint


class LoyaltyWorkflow(WorkflowEntrypoint):
    """Add loyalty points for a purchase, then report the balance."""

    async def run(self, event: Any, step: Any) -> Any:
        customer = event["payload"]["customer"]

        @step.do("add points")
        async def add_points() -> int:
            balance = int(await self.env.POINTS.get(customer) or 0)
            await self.env.POINTS.put(customer, str(balance + 10))  # BUG: an increment, not idempotent
            return balance + 10

        return {"balance": await add_points()}
