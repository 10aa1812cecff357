"""The Worker's main module: it exports the workflow class and answers a health check.

Cloudflare finds workflow classes by scanning the main module, so the class defined in the
sibling module is imported here.
"""

from urllib.parse import urlparse

from workers import Response, WorkerEntrypoint

from worker_workflow import TestWorkflow  # noqa: F401 - exported for the workflows[] binding


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = urlparse(request.url).path
        if path == "/health":
            return Response.json({"ok": True})
        return Response.json({"error": "not found"}, status=404)
