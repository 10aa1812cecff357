# https://developers.cloudflare.com/workflows/python/dag/ (before 2026-02-25: the depends= list)
# cloudflare/cloudflare-docs src/content/docs/workflows/python/dag.mdx
from workers import WorkflowEntrypoint

class MyWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("dependency a")
        async def step_a():
            # do some work
            return 10

        @step.do("dependency b")
        async def step_b():
            # do some work
            return 20

        @step.do("my final step", depends=[step_a, step_b], concurrent=True)
        async def my_final_step(result_a=0, result_b=0):
            # should return 30
            return result_a + result_b

        await my_final_step()
