# https://developers.cloudflare.com/workflows/python/bindings/ (`send_event`), in an on_fetch
# handler (the page shows the line without one). Cloudflare's Workflow binding has no
# send_event (only create, create_batch and get; events go to an instance), so this fails on
# Cloudflare as it does here: see the Fidelity table.
from pyodide.ffi import to_js
from js import Object


async def on_fetch(request, env):
    await env.MY_WORKFLOW.send_event(to_js({ "type": "my-event-type", "payload": { "foo": "bar" } }, dict_converter=Object.fromEntries))
