"""Order service: an HTTP API that starts an order workflow, reserves stock in D1, records the
order's progress in KV, waits for the warehouse and for payment, then ships.

Written for Cloudflare Python Workers; runs unmodified under cfwf-emulator.
"""

import json
from urllib.parse import urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint
from workers.workflows import NonRetryableError

from inventory import reservation_sql


class OrderWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        order_id = event["instanceId"]

        @step.do()
        async def load_order():
            order = event["payload"]
            if order.get("quantity", 0) <= 0:
                raise NonRetryableError(f"order {order_id} has no quantity")
            return {"sku": order["sku"], "quantity": order["quantity"]}

        @step.do(config={"retries": {"limit": 3, "delay": "10 seconds", "backoff": "exponential"}})
        async def reserve_stock(load_order):
            await self.env.DB.exec(
                "CREATE TABLE IF NOT EXISTS reservations "
                "(order_id TEXT PRIMARY KEY, sku TEXT NOT NULL, quantity INTEGER NOT NULL)"
            )
            await self.env.DB.prepare(reservation_sql()).bind(
                order_id, load_order["sku"], load_order["quantity"]
            ).run()
            row = await self.env.DB.prepare(
                "SELECT COUNT(*) AS n FROM reservations WHERE sku = ?"
            ).bind(load_order["sku"]).first()
            return {"reserved": load_order["quantity"], "open_reservations_for_sku": row["n"]}

        @step.do()
        async def mark_reserved(reserve_stock):
            await self.env.ORDER_STATUS.put(
                f"order:{order_id}", json.dumps({"state": "reserved", **reserve_stock})
            )
            return "reserved"

        await mark_reserved()
        await step.sleep("give the warehouse time to pick", "2 hours")

        payment = await step.wait_for_event("wait for payment", "payment-received", timeout="1 day")

        @step.do()
        async def ship():
            record = {"state": "shipped", "paid": payment["payload"]["amount"],
                      "warehouse": self.env.WAREHOUSE}
            await self.env.ORDER_STATUS.put(f"order:{order_id}", json.dumps(record))
            return record

        return await ship()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = urlparse(request.url).path.rstrip("/")
        parts = path.split("/")
        if request.method == "POST" and path == "/orders":
            order = await request.json()
            instance = await self.env.ORDER_WORKFLOW.create(params=order)
            return Response.json({"id": instance.id}, status=201)
        if request.method == "GET" and len(parts) == 3 and parts[1] == "orders":
            instance = await self.env.ORDER_WORKFLOW.get(parts[2])
            progress = await self.env.ORDER_STATUS.get(f"order:{parts[2]}", type="json")
            return Response.json({"workflow": await instance.status(), "progress": progress})
        if request.method == "POST" and len(parts) == 4 and parts[3] == "pay":
            instance = await self.env.ORDER_WORKFLOW.get(parts[2])
            body = await request.json()
            await instance.send_event(type="payment-received", payload={"amount": body["amount"]})
            return Response("payment recorded", status=202)
        return Response("not found", status=404)
