"""``cfwf``: Cloudflare's ``wrangler workflows`` commands, offline, on a project's own state.

    cfwf workflows trigger order-workflow '{"order_id": 7}' --id o-1
    cfwf workflows instances describe order-workflow o-1

Reads (``list``, ``describe``) inspect the state file and never run anything; writes run the
instances they affect until each one finishes or waits. See README "Offline development".
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
