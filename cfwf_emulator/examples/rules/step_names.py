"""Breaks "step names must be deterministic": the step name contains a fresh UUID.

The author wanted every charge to be "unique". But a step's name is the key of its saved result:
after a replay (a sleep, an event wait, an eviction, a crash) ``run`` computes a new name, finds
no saved result and charges the card again.
"""

from __future__ import annotations

import uuid
from typing import Any

from cfwf_emulator import WorkflowEntrypoint


class ChargeWorkflow(WorkflowEntrypoint):
    """Charge a card under a random step name, then send a receipt."""

    async def run(self, event: Any, step: Any) -> Any:
        amount = event["payload"]["amount"]

        @step.do(f"charge {uuid.uuid4()}")  # BUG: a new name on every run
        async def charge() -> dict[str, Any]:
            return {"charged": amount}

        charged = await charge()

        @step.do("send receipt")
        async def send_receipt() -> str:
            return f"receipt for {charged['charged']}"

        return await send_receipt()
