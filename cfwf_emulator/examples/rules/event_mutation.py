"""Breaks "don't mutate the incoming event": the payload is changed to carry the step's result.

The change is not saved: after a replay ``run`` receives the original event again.
"""

from __future__ import annotations

from typing import Any

from cfwf_emulator import WorkflowEntrypoint


class InvoiceWorkflow(WorkflowEntrypoint):
    """Number an invoice, then send it."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("assign number")
        async def assign_number() -> str:
            return f"INV-{event['payload']['customer']}-1"

        event["payload"]["number"] = await assign_number()  # BUG: writes into the event

        @step.do("send invoice")
        async def send_invoice() -> str:
            return f"sent {event['payload']['number']}"

        return await send_invoice()
