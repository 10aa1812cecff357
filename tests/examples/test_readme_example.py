"""The README's example test: the shipped order project, tested through the pytest plugin."""

import pytest

PROJECT = "cfwf_emulator/examples/project/wrangler.jsonc"


@pytest.mark.cfwf(config=PROJECT)
async def test_a_paid_order_ships(cfwf, introspect_workflow):
    captured = introspect_workflow(cfwf.env.ORDER_WORKFLOW)
    await captured.modify_all(lambda m: m.mock_event({"type": "payment-received", "payload": {"amount": 42}}))

    response = await cfwf.fetch("/orders", method="POST", json={"sku": "A1", "quantity": 2})
    assert response.status == 201

    [order] = await captured.get()
    await order.wait_for_status("complete")      # the 2-hour sleep passes in virtual time
    assert (await order.get_output())["state"] == "shipped"


@pytest.mark.cfwf(config=PROJECT)
async def test_a_flaky_reservation_is_retried(cfwf, introspect_workflow_instance):
    order = introspect_workflow_instance(cfwf.env.ORDER_WORKFLOW, "order-1")
    await order.modify(lambda m: (
        m.mock_step_error("reserve_stock", RuntimeError("database busy"), times=2),
        m.disable_sleeps(),
        m.force_event_timeout("wait for payment"),
    ))
    await cfwf.env.ORDER_WORKFLOW.create(id="order-1", params={"sku": "A1", "quantity": 1})

    assert await order.wait_for_step_result("reserve_stock") == {"reserved": 1, "open_reservations_for_sku": 1}
    await order.wait_for_status("errored")
    assert (await order.get_error())["message"] == "Execution timed out after 86400000ms"
