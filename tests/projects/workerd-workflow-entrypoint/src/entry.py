from workers import WorkflowEntrypoint


class WorkflowEntrypointExample(WorkflowEntrypoint):
    async def run(self, event, step):
        async def await_step(fn):
            try:
                return await fn()
            except TypeError as e:
                print(f"Caught {type(e).__name__}: {e}")

        # Declared but never awaited: a declared step does not run by itself.
        @step.do("my_failing")
        async def my_failing():
            print("running my_failing")
            raise TypeError("my_failing always fails")

        @step.do("normal_step")
        async def normal_step(ctx):
            assert int(ctx["attempt"]) == 1
            return "done"

        await normal_step()

        @step.do()
        async def step_1():
            print("running step 1")
            return {"foo": "foo"}

        @step.do()
        async def step_2():
            print("running step 2")
            return {"bar": "bar"}

        @step.do("step_3", concurrent=True)
        async def step_3():
            pass

        await await_step(step_3)

        # step_1 and step_2 are resolved by parameter name; ctx may sit between them.
        @step.do("step_4", concurrent=True)
        async def step_4(step_1, ctx, step_2):
            assert int(ctx["attempt"]) == 1
            print("running step 4 after step 1 and step 2")
            assert step_1["foo"] == "foo"
            assert step_2["bar"] == "bar"

        await await_step(step_4)

        # step_1 and step_2 already completed in this run: their results are reused (the
        # parameter defaults are ignored) and they do not run again.
        @step.do("step_5", concurrent=False)
        async def step_5(ctx, step_1=(), step_2=()):
            print("running step 5 with the memoised results")
            assert step_1["foo"] == "foo"
            assert step_2["bar"] == "bar"
            return step_1["foo"] + step_2["bar"]

        return await step_5()
