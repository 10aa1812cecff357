"""An order workflow that follows every Rule of Workflows: the rules checker reports nothing.

- step names are constants; control flow depends only on the payload and step results;
- everything later code needs comes from step results; the event is only read;
- every step is awaited (``asyncio.gather`` for the two that may run together);
- the KV write is inside a step and idempotent (same key, same value on every attempt);
- results are small JSON-like dicts; a declined payment is a result, not a custom exception, and
  the one ``try`` around a step catches ``Exception``.

Run it with ``params={"order_id": 7, "items": [{"sku": "A1", "price": 20, "qty": 2}]}`` and the
event ``{"type": "approval", "payload": {"by": "ana"}}``; ``env.ORDERS`` is a KV namespace.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cfwf_emulator import WorkflowEntrypoint


class GoodOrderWorkflow(WorkflowEntrypoint):
    """Load an order, reserve it, authorise payment, wait, get approval, notify, ship."""

    async def run(self, event: Any, step: Any) -> Any:
        order_id = event["payload"]["order_id"]

        @step.do()
        async def load_order() -> dict[str, Any]:
            items = event["payload"]["items"]
            total = sum(item["price"] * item["qty"] for item in items)
            return {"order_id": order_id, "skus": [item["sku"] for item in items], "total": total}

        @step.do(config={"retries": {"limit": 3, "delay": "5 seconds", "backoff": "exponential"}})
        async def reserve_stock(load_order: dict[str, Any]) -> dict[str, Any]:
            await self.env.ORDERS.put(f"reservation:{load_order['order_id']}", "reserved")
            return {"reserved": len(load_order["skus"])}

        order = await load_order()
        reservation = await reserve_stock()

        @step.do("authorise payment")
        async def authorise() -> dict[str, Any]:
            if order["total"] > 10_000:
                return {"approved": False, "reason": "over the card limit"}
            return {"approved": True, "authorisation": f"auth-{order['order_id']}"}

        payment = await authorise()
        if not payment["approved"]:
            return {"status": "declined", "reason": payment["reason"]}

        await step.sleep("give the warehouse time", "1 hour")
        approval = await step.wait_for_event("manager approval", "approval", timeout="1 day")

        @step.do("notify customer")
        async def notify_customer() -> str:
            return f"mail-{order['order_id']}"

        @step.do("notify warehouse")
        async def notify_warehouse() -> str:
            return f"pick-{order['order_id']}"

        mail, pick = await asyncio.gather(notify_customer(), notify_warehouse())

        @step.do("ship", config={"retries": {"limit": 2, "delay": 1000}})
        async def ship() -> dict[str, Any]:
            return {"tracking": f"TRK-{order['order_id']}", "approved_by": approval["payload"]["by"]}

        try:
            shipment = await ship()
        except Exception as error:  # portable: whatever crosses the step boundary is an Exception
            return {"status": "not shipped", "error": str(error)}
        return {
            "status": "shipped",
            "reserved": reservation["reserved"],
            "messages": [mail, pick],
            "shipment": shipment,
        }
