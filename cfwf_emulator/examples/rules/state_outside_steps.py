"""Breaks "don't rely on state outside of steps": a step fills a list that a later step reads.

Normally the cart holds the item when "checkout" runs. After a replay, "add item" is not run
again (its result is saved), so the list stays empty and "checkout" sees an empty cart.
"""

from __future__ import annotations

from typing import Any

from cfwf_emulator import WorkflowEntrypoint


class CartWorkflow(WorkflowEntrypoint):
    """Add an item to a cart, then check out."""

    async def run(self, event: Any, step: Any) -> Any:
        cart: list[str] = []

        @step.do("add item")
        async def add_item() -> int:
            cart.append(event["payload"]["item"])  # BUG: state kept outside the step's result
            return len(cart)

        await add_item()

        @step.do("checkout")
        async def checkout() -> dict[str, Any]:
            return {"items": list(cart)}

        return await checkout()
