from workers import WorkflowEntrypoint
from workers.workflows import NonRetryableError


class QuotaExceeded(Exception):
    pass


class MyWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def my_first_step():
            # some work
            return "Hello World!"

        greeting = await my_first_step()

        @step.do()
        async def read_context(ctx):
            print(f"{ctx['step']['name']} attempt {ctx['attempt']}")
            return ctx["attempt"]

        attempt = await read_context()

        @step.do("step-name", config={"retries": {"limit": 1, "delay": "10 seconds"}})
        async def call_flaky_api(ctx):
            if ctx["attempt"] == 1:
                raise ValueError("the API was not ready yet")
            return {"attempt": ctx["attempt"], "retry_limit": ctx["config"]["retries"]["limit"]}

        flaky = await call_flaky_api()
        return {"greeting": greeting, "first_attempt": attempt, "flaky": flaky}


class ErrorHandlingWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        async def try_step(fn):
            try:
                return await fn()
            except Exception as e:
                print(f"Successfully caught {type(e).__name__}: {e}")
                return {"caught": type(e).__name__, "message": str(e)}

        @step.do("my_failing")
        async def my_failing():
            print("Executing my_failing")
            raise TypeError("Intentional error in my_failing")

        outcome = await try_step(my_failing)

        if event["payload"].get("over_quota"):

            @step.do("check quota", config={"retries": {"limit": 0, "delay": 0}})
            async def check_quota():
                raise QuotaExceeded("quota used up")

            try:
                await check_quota()
            except QuotaExceeded:
                return {"quota": "caught as QuotaExceeded"}
            except Exception:
                return {"quota": "caught as Exception"}

        if event["payload"].get("reject"):

            @step.do("validate payload")
            async def validate_payload():
                raise NonRetryableError(f"payload rejected: {event['payload']['reject']}")

            await validate_payload()

        return outcome
