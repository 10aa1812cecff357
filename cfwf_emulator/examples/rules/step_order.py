"""Breaks "steps must be called in the same order": the order is shuffled outside any step.

Shuffling the warehouses spreads the load, but it happens in ``run`` itself, so every replay
calls the steps in a different order than the journal has them.
"""

from __future__ import annotations

import random
from typing import Any

from cfwf_emulator import WorkflowEntrypoint


class ReserveEverywhereWorkflow(WorkflowEntrypoint):
    """Reserve stock in each warehouse, in random order."""

    async def run(self, event: Any, step: Any) -> Any:
        warehouses = list(event["payload"]["warehouses"])
        random.shuffle(warehouses)  # BUG: randomness outside a step decides the order of steps
        reserved = []
        for warehouse in warehouses:

            @step.do(f"reserve at {warehouse}")
            async def reserve() -> str:
                return f"reserved at {warehouse}"

            reserved.append(await reserve())
        return sorted(reserved)
