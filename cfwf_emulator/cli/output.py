"""What the command line prints: JSON as wrangler prints it, warnings and errors on stderr, colour
only on a terminal (``NO_COLOR`` respected)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

__all__ = ["Output", "UserError", "use_colour"]


class UserError(Exception):
    """Something the user can fix: printed as one line (what is wrong, what to do), exit status 1."""


def use_colour(stream: TextIO) -> bool:
    """Whether to colour ``stream``: a terminal, no ``NO_COLOR`` (any non-empty value), not ``TERM=dumb``."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


class Output:
    """The command's stdout and stderr. With ``json_mode`` stdout holds nothing but the JSON."""

    def __init__(self, json_mode: bool = False, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.colour = use_colour(self.stdout)
        self.error_colour = use_colour(self.stderr)

    def json(self, value: Any) -> None:
        """Print ``value`` as wrangler's ``--json`` does: 4-space indent, non-ASCII kept."""
        self.stdout.write(json.dumps(value, indent=4, ensure_ascii=False) + "\n")

    def line(self, text: str = "") -> None:
        """Print a line of human output (nothing in JSON mode)."""
        if not self.json_mode:
            self.stdout.write(text + "\n")

    def warn(self, text: str) -> None:
        """A warning on stderr (the command still succeeds)."""
        self.stderr.write(self.paint(f"▲ [WARNING] {text}", "33", self.error_colour) + "\n")

    def error(self, text: str) -> None:
        """An error on stderr, on one line."""
        one_line = " ".join(text.split())
        self.stderr.write(self.paint(f"✘ [ERROR] {one_line}", "31", self.error_colour) + "\n")

    def red(self, text: str) -> str:
        """``text`` in red on a colour terminal."""
        return self.paint(text, "31", self.colour)

    def bold(self, text: str) -> str:
        """``text`` in bold on a colour terminal."""
        return self.paint(text, "1", self.colour)

    @staticmethod
    def paint(text: str, code: str, enabled: bool) -> str:
        """``text`` wrapped in the ANSI colour ``code`` when ``enabled``."""
        return f"\x1b[{code}m{text}\x1b[0m" if enabled else text
