"""Breaks "only TypeError, ValueError and NonRetryableError keep their class across a step".

The step raises ``CardDeclined``, but in ``run`` it arrives as a generic error (``StepError``
here, a JavaScript error on Cloudflare), so ``except CardDeclined`` never matches and a
declined card fails the whole instance instead of returning ``{"status": "declined"}``.
"""

from __future__ import annotations

from typing import Any

from cfwf_emulator import WorkflowEntrypoint


class CardDeclined(Exception):
    """The bank declined the card."""


class CheckoutWorkflow(WorkflowEntrypoint):
    """Charge a card; a declined card should end the checkout politely."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("charge card", config={"retries": {"limit": 0, "delay": "1 second"}})
        async def charge_card() -> dict[str, Any]:
            if event["payload"]["card"] == "declined":
                raise CardDeclined("the bank declined the card")
            return {"charged": event["payload"]["amount"]}

        try:
            charge = await charge_card()
        except CardDeclined:  # BUG: never matches an error coming out of a step
            return {"status": "declined"}
        return {"status": "paid", "charge": charge}
