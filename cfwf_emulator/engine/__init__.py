"""The engine: replay, retries, timers and the instance lifecycle (private)."""
