from cfwf_emulator import WorkflowEntrypoint


class Echo(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def echo():
            return event["payload"]

        return await echo()


async def test_an_instance_completes_with_its_output(emu):
    emu.add_workflow("echo", Echo, binding="ECHO")
    async with emu:
        inst = await emu.env.ECHO.create(id="e1", params={"x": 1})
        await emu.run_until_idle()
        assert await inst.status() == {"status": "complete", "output": {"x": 1}}
