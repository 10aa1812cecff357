"""An order workflow with the three things Workflows are for: retries, a sleep and an event wait.

It is written exactly as for Cloudflare's Python Workflows: the decorator form of ``step.do``
(the only one Cloudflare's Python SDK has); only the import differs, and
``from workers import WorkflowEntrypoint`` works unchanged once a project is loaded.
"""

from __future__ import annotations

from typing import Any

from cfwf_emulator import NonRetryableError, WorkflowEntrypoint


class PaymentGatewayError(Exception):
    """The (simulated) payment gateway did not answer."""


class OrderWorkflow(WorkflowEntrypoint):
    """Fetch an order, charge it (the gateway fails twice), cool off, wait for approval, ship."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("fetch order")
        async def fetch_order() -> dict[str, Any]:
            payload = event["payload"]
            if payload.get("amount", 0) <= 0:
                raise NonRetryableError(f"order {payload.get('order_id')} has no amount to charge")
            return {"order_id": payload["order_id"], "amount": payload["amount"]}

        order = await fetch_order()

        @step.do(
            "charge card",
            config={
                "retries": {"limit": 3, "delay": "5 seconds", "backoff": "exponential"},
                "timeout": "1 minute",
                "sensitive": "output",  # progress output and the failure report show [REDACTED]
            },
        )
        async def charge_card(ctx: Any) -> dict[str, Any]:
            if ctx["attempt"] < 3:
                raise PaymentGatewayError(f"gateway timeout on attempt {ctx['attempt']}")
            return {"charge_id": f"ch_{order['order_id']}", "amount": order["amount"]}

        charge = await charge_card()

        await step.sleep("cool off", "1 hour")

        approval = await step.wait_for_event("wait for approval", "approved", timeout="1 day")

        @step.do("ship")
        async def ship() -> dict[str, Any]:
            return {"tracking": f"TRK-{order['order_id']}", "approved_by": approval["payload"]["by"]}

        shipment = await ship()
        return {"order": order, "charge": charge, "shipment": shipment}
