# https://developers.cloudflare.com/workflows/python/python-workers-api/ (WorkflowStep: a step
# named after its function, `@step.do()`)
from workers import WorkflowEntrypoint

class MyWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def my_first_step():
            # do some work
            return "Hello World!"

        await my_first_step()
