"""The shipped example project (cfwf_emulator/examples/project) run as a user would run it."""

from __future__ import annotations

from pathlib import Path

import cfwf_emulator
from cfwf_emulator import Emulator, VirtualClock

PROJECT = Path(cfwf_emulator.__file__).parent / "examples" / "project"
START_MS = 1_767_225_600_000.0


def order_service() -> Emulator:
    return Emulator.from_config(PROJECT, clock=VirtualClock(START_MS))


async def place_order(emu: Emulator, quantity: int = 2) -> str:
    response = await emu.fetch("/orders", method="POST", json={"sku": "A1", "quantity": quantity})
    assert response.status == 201
    order_id: str = (await response.json())["id"]
    return order_id


async def test_an_order_is_reserved_in_d1_and_tracked_in_kv_until_payment():
    emu = order_service()
    async with emu:
        order_id = await place_order(emu)
        await emu.advance("3 hours")
        response = await emu.fetch(f"/orders/{order_id}")
        body = await response.json()
        assert body["workflow"] == {"status": "waiting", "output": None}
        assert body["progress"] == {"state": "reserved", "reserved": 2, "open_reservations_for_sku": 1}
        rows = await emu.env.DB.prepare("SELECT order_id, sku, quantity FROM reservations").all()
        assert [dict(row) for row in rows["results"]] == [{"order_id": order_id, "sku": "A1", "quantity": 2}]


async def test_payment_ships_the_order_with_the_configured_warehouse():
    emu = order_service()
    async with emu:
        order_id = await place_order(emu)
        await emu.advance("2 hours")
        paid = await emu.fetch(f"/orders/{order_id}/pay", method="POST", json={"amount": 42})
        assert (paid.status, await paid.text()) == (202, "payment recorded")
        await emu.run_until_idle()
        body = await (await emu.fetch(f"/orders/{order_id}")).json()
    shipped = {"state": "shipped", "paid": 42, "warehouse": "lisbon-1"}
    assert body == {"workflow": {"status": "complete", "output": shipped}, "progress": shipped}


async def test_an_unpaid_order_times_out_after_a_day_of_waiting():
    emu = order_service()
    async with emu:
        order_id = await place_order(emu)
        await emu.run_until_idle()
        status = await (await emu.env.ORDER_WORKFLOW.get(order_id)).status()
    assert status["status"] == "errored"
    assert status["error"] == {"name": "WorkflowTimeoutError", "message": "Execution timed out after 86400000ms"}


async def test_an_order_without_quantity_fails_without_retrying():
    # The project's compatibility_date (2026-03-01) predates 2026-05-14, so Cloudflare reports
    # the generic WorkflowFatalError text instead of the NonRetryableError's own message.
    emu = order_service()
    async with emu:
        order_id = await place_order(emu, quantity=0)
        await emu.run_until_idle()
        instance = await emu.env.ORDER_WORKFLOW.get(order_id)
        status, details = await instance.status(), await instance.describe()
    assert status["error"] == {
        "name": "WorkflowFatalError",
        "message": "The execution of the Workflow instance was terminated, as a step threw an "
        "NonRetryableError and it was not handled",
    }
    assert len(details["steps"][0]["attempts"]) == 1


async def test_unknown_routes_are_404():
    emu = order_service()
    async with emu:
        response = await emu.fetch("/nope")
    assert (response.status, await response.text()) == (404, "not found")


async def test_the_project_follows_the_rules_of_workflows():
    from cfwf_emulator.testing import check_workflow

    emu = order_service()
    report = await check_workflow(
        emu.env.ORDER_WORKFLOW,
        params={"sku": "A1", "quantity": 2},
        events=[{"type": "payment-received", "payload": {"amount": 42}}],
    )
    assert report.ok, report.format()
