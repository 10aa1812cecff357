"""``workers.workflows``: the module Cloudflare's Python Workflows import NonRetryableError from."""

from __future__ import annotations

from ..errors import NonRetryableError

__all__ = ["NonRetryableError"]
