from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class PythonWorkflowStarter(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("step1")
        async def step_1():
            # the real work would go here
            print("executing step1")

        @step.do("step2")
        async def step_2():
            # and here
            print("executing step2")

        await step_1()
        await step_2()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        await self.env.MY_WORKFLOW.create()
        return Response("Hello world!")
