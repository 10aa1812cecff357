# https://developers.cloudflare.com/workflows/python/bindings/ (`create_batch` and `get`): the
# page's module-level lines, in an on_fetch handler (the page shows them without one).
from pyodide.ffi import to_js
from js import Object

from workers import Response


async def on_fetch(request, env):
    # Create a new batch of 3 Workflow instances, each with its own ID and pass params to the Workflow instances
    listOfInstances = [
      to_js({ "id": "id-abc123", "params": { "hello": "world-0" } }, dict_converter=Object.fromEntries),
      to_js({ "id": "id-def456", "params": { "hello": "world-1" } }, dict_converter=Object.fromEntries),
      to_js({ "id": "id-ghi789", "params": { "hello": "world-2" } }, dict_converter=Object.fromEntries)
    ];

    await env.MY_WORKFLOW.create_batch(listOfInstances);

    instance = await env.MY_WORKFLOW.get("id-abc123")

    # FFI methods available for WorkflowInstance
    await instance.status()
    await instance.pause()
    await instance.resume()
    await instance.restart()
    await instance.terminate()
    return Response.json(await instance.status())
