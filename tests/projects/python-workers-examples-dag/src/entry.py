"""Two independent steps feeding a final one, declared with the legacy ``depends`` list.

The original waits a random number of real seconds inside each dependency to show that they
overlap; here each one only yields to the event loop once, which keeps the overlap observable
without spending any time.
"""

import asyncio
from urllib.parse import urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class DAGWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("dependency 1")
        async def sleep_a_little():
            print("executing dep1")
            await asyncio.sleep(0)

        @step.do("dependency 2")
        async def sleep_longer():
            print("executing dep2")
            await asyncio.sleep(0)

        @step.do("final step", depends=[sleep_a_little, sleep_longer], concurrent=True)
        async def summarize(res1=None, res2=None):
            print("both dependencies are done, summarizing")

        await summarize()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)

        if url.path == "/start":
            workflow = await self.env.MY_WORKFLOW.create()
            return Response("Started a workflow with ID: " + workflow.id)

        if "/status" in url.path:
            workflow_id = url.path.split("/")[-1]
            workflow = await self.env.MY_WORKFLOW.get(workflow_id)
            status = await workflow.status()
            return Response.json(status)

        return Response(
            "Start a workflow with /start, then follow it with /status/<workflow_id>."
        )
