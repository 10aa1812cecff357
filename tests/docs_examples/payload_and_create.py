# https://developers.cloudflare.com/workflows/python/bindings/ ("And this is how you use the
# payload in your workflow", and `create` with to_js(..., dict_converter=Object.fromEntries)).
# The on_fetch snippet uses Response without importing it; the import is the page's own
# `from workers import ...` line, extended by Response.
from workers import Response, WorkflowEntrypoint

from pyodide.ffi import to_js
from js import Object

class DemoWorkflowClass(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do('step-name')
        async def first_step():
            payload = event["payload"]
            return payload


async def on_fetch(request, env, ctx):
    event = {"foo": "bar"}
    options = to_js({"params": event}, dict_converter=Object.fromEntries)
    await env.MY_WORKFLOW.create(options)
    return Response.json({"status": "success"})
