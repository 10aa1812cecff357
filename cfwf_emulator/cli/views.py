"""Instance details as wrangler prints them: ``emu.api.describe`` returns Cloudflare's Local
Explorer shape (``spec/local-explorer-api.md`` §3.5) plus the emulator's ``cfwf`` extension; the
``--json`` output leaves the extension out."""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["EXTENSION", "without_extension"]

#: The key under which ``describe`` adds what the emulator knows beyond Cloudflare.
EXTENSION = "cfwf"


def without_extension(details: Mapping[str, Any]) -> dict[str, Any]:
    """``details`` without the emulator's extension (instance and steps): exactly wrangler's keys."""
    steps = [{key: value for key, value in step.items() if key != EXTENSION} for step in details["steps"]]
    return {**{key: value for key, value in details.items() if key != EXTENSION}, "steps": steps}
