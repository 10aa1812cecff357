# https://developers.cloudflare.com/workflows/python/python-workers-api/ ("Configure a workflow
# instance", "Error Handling", "NonRetryableError", "Create an instance via binding"). The page
# shows these as separate fragments: here they follow one another in one run(), first_step is
# awaited (the page only decorates it), and the one-line `raise NonRetryableError(message)` sits
# in a step of its own.
from workers import Response, WorkerEntrypoint, WorkflowEntrypoint
from workers.workflows import NonRetryableError


class DemoWorkflowClass(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do('step-name', config={"retries": {"limit": 1, "delay": "10 seconds"}})
        async def first_step():
            # do some work
            pass

        await first_step()

        async def try_step(fn):
            try:
                return await fn()
            except Exception as e:
                print(f"Successfully caught {type(e).__name__}: {e}")

        @step.do("my_failing")
        async def my_failing():
            print("Executing my_failing")
            raise TypeError("Intentional error in my_failing")

        await try_step(my_failing)

        @step.do("give up")
        async def give_up():
            message = "the payload cannot be processed"
            raise NonRetryableError(message)

        await give_up()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        instance = await self.env.MY_WORKFLOW.create()
        return Response.json({"status": "success"})
