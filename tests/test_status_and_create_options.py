"""``status()`` reads like the SDK's ``JsDict``; ``create`` takes the location hints Cloudflare accepts.

Contract: README "Fidelity"; spec python-workflows-api.md §3 (``status()`` converted to
``JsDict``: attribute access), cloudflare-workflows.md §1.2 (``locationHint`` values of workerd's
``WorkflowInstanceLocationHint``).
"""

from __future__ import annotations

import pytest

from cfwf_emulator import Emulator, NonRetryableError, WorkflowEntrypoint, WorkflowError

HINTS = ["wnam", "enam", "sam", "weur", "eeur", "apac", "apac-ne", "apac-se", "oc", "afr", "me"]


class Echo(WorkflowEntrypoint):
    async def run(self, event, step):
        if event["payload"].get("fail"):
            await step.do("refuse")(self.refuse)()
        return {"order": {"id": event["payload"]["id"]}}

    @staticmethod
    def refuse():
        raise NonRetryableError("card declined")


def emulator() -> Emulator:
    emu = Emulator(clock="virtual")
    emu.add_workflow("echo", Echo, binding="ECHO")
    return emu


async def test_status_allows_attribute_access_at_every_level():
    emu = emulator()
    async with emu:
        done = await emu.env.ECHO.create(id="done", params={"id": 7})
        failed = await emu.env.ECHO.create(id="failed", params={"id": 8, "fail": True})
        await emu.run_until_idle()
        status = await done.status()
        assert status.status == "complete"
        assert status.output.order.id == 7
        error = (await failed.status()).error
        assert (error.name, error.message) == ("NonRetryableError", "card declined")
        with pytest.raises(AttributeError):
            status.error  # noqa: B018 - no error key when complete, as in JsDict
        status.note = "mine"  # JsDict sets keys through attributes too
        assert status["note"] == "mine"


@pytest.mark.parametrize("hint", HINTS)
async def test_every_location_hint_cloudflare_accepts_is_accepted(hint):
    emu = emulator()
    async with emu:
        inst = await emu.env.ECHO.create(id="i1", params={"id": 1}, locationHint=hint)
        [other] = await emu.env.ECHO.create_batch([{"id": "i2", "params": {"id": 2}, "locationHint": hint}])
        await emu.run_until_idle()
        assert (await inst.status())["status"] == (await other.status())["status"] == "complete"


@pytest.mark.parametrize(
    ("hint", "hint_text"),
    [("WNAM", "did you mean 'wnam'"), ("eu", "use one of 'wnam', "), ("us-east", "or leave it out"), (5, "5")],
    ids=["upper-case", "other-vocabulary", "aws-region", "int"],
)
async def test_other_location_hints_are_refused_before_anything_is_created(hint, hint_text):
    emu = emulator()
    async with emu:
        with pytest.raises(WorkflowError) as single:
            await emu.env.ECHO.create(id="i1", params={"id": 1}, locationHint=hint)
        with pytest.raises(WorkflowError) as batch:
            await emu.env.ECHO.create_batch([{"id": "i2", "params": {"id": 2}}, {"id": "i3", "locationHint": hint}])
        for caught in (single, batch):
            assert caught.value.code == "instance.invalid_location_hint"
            assert hint_text in str(caught.value)
        for instance_id in ("i1", "i2", "i3"):
            with pytest.raises(WorkflowError, match="instance.not_found"):
                await emu.env.ECHO.get(instance_id)
