# Written as Cloudflare's Python Workers docs write it: the SDK's imports, to_js with
# Object.fromEntries before create, the decorator form of step.do.
from js import Object
from pyodide.ffi import to_js
from workers import Response, WorkerEntrypoint, WorkflowEntrypoint
from workers.workflows import NonRetryableError


class SignupWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("validate")
        async def validate():
            if "@" not in event.payload.email:
                raise NonRetryableError("not an email address")
            return {"email": event.payload.email.lower(), "plan": event.payload.plan}

        @step.do("welcome", config={"retries": {"limit": 2, "delay": "1 second"}})
        async def welcome(validate):
            return f"welcome mail sent to {validate['email']} ({validate['plan'][0]})"

        await step.sleep("trial", "14 days")
        return {"mail": await welcome(), "tags": event.payload.tags}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        body = await request.json()
        params = to_js(
            {"email": body["email"], "plan": ("pro", "yearly"), "tags": body.get("tags", [])},
            dict_converter=Object.fromEntries,
        )
        instance = await self.env.SIGNUP.create(params=params)
        return Response.json({"id": instance.id})
