from workers import WorkflowEntrypoint


class PythonWorkflowDepends(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("step_1")
        async def step_1():
            # a step callback without ctx still works
            print("running step 1")
            return "foo"

        @step.do("step_2")
        async def step_2(ctx):
            if ctx is not None:
                assert int(ctx["attempt"]) == 1
            print("running step 2")
            return "bar"

        # Parameter names do not matter here: results are passed in the order of `depends`.
        @step.do("step_3", depends=[step_1, step_2], concurrent=True)
        async def step_3(result1=(), ctx=None, result2=()):
            if ctx is not None:
                assert int(ctx["attempt"]) == 1
            assert result1 == "foo"
            assert result2 == "bar"
            return result1 + result2

        return await step_3()
