"""Compatibility dates and flags: which Cloudflare behaviour a workflow gets.

Cloudflare selects behaviour by the Worker's ``compatibility_date`` and ``compatibility_flags``;
the emulator does the same so that code written for an older date behaves as it does when
deployed with that date. Without a date the newest behaviour applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .errors import ConfigError

__all__ = ["Compatibility"]

IMPLICIT_DEPENDENCIES_DATE = "2026-02-25"
PRESERVE_NON_RETRYABLE_DATE = "2026-05-14"

_FLAGS = {
    "python_workflows_implicit_dependencies": ("implicit_dependencies", True),
    "no_python_workflows_implicit_dependencies": ("implicit_dependencies", False),
    "workflows_preserve_non_retryable_error_message": ("preserve_non_retryable", True),
    "no_workflows_preserve_non_retryable_error_message": ("preserve_non_retryable", False),
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


@dataclass(frozen=True)
class Compatibility:
    """The behaviour switches derived from a compatibility date and flags."""

    date: str | None = None
    flags: tuple[str, ...] = ()
    implicit_dependencies: bool = True
    preserve_non_retryable: bool = True

    @classmethod
    def resolve(cls, compat_date: str | None = None, flags: "list[str] | tuple[str, ...]" = ()) -> "Compatibility":
        """Derive the switches; a malformed date raises :class:`ConfigError`."""
        if compat_date is not None:
            if not isinstance(compat_date, str) or not _DATE.match(compat_date):
                raise ConfigError(
                    f'compatibility_date must be a date "YYYY-MM-DD", got {compat_date!r}'
                )
            try:
                date.fromisoformat(compat_date)
            except ValueError:
                raise ConfigError(f"compatibility_date {compat_date!r} is not a real date") from None
        effective = compat_date or "9999-12-31"
        values = {
            "implicit_dependencies": effective >= IMPLICIT_DEPENDENCIES_DATE,
            "preserve_non_retryable": effective >= PRESERVE_NON_RETRYABLE_DATE,
        }
        for flag in flags:
            if flag in _FLAGS:
                field, value = _FLAGS[flag]
                values[field] = value
        return cls(date=compat_date, flags=tuple(flags), **values)
