"""Compatibility dates and flags: which Cloudflare behaviour a workflow gets.

Cloudflare selects behaviour by the Worker's ``compatibility_date`` and ``compatibility_flags``;
the emulator does the same so that code written for an older date behaves as it does when
deployed with that date. Without a date the newest behaviour applies.

Flags are checked as workerd checks them (``compileCompatibilityFlags``): an unknown name, a name
given twice, a flag given with its opposite, or an experimental flag is refused with workerd's
text and the fix; naming a flag that the date already turns on is only a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Sequence

from .compat_flags import FLAGS
from .errors import ConfigError, did_you_mean

__all__ = ["Compatibility", "FlagProblem", "flag_problems"]

IMPLICIT_DEPENDENCIES_DATE = "2026-02-25"
PRESERVE_NON_RETRYABLE_DATE = "2026-05-14"
PYTHON_WORKFLOWS_DATE = "2025-09-20"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_ENABLE = {enable: (disable, default_date, experimental) for enable, disable, default_date, experimental in FLAGS}
_OPPOSITE = {disable: enable for enable, disable, _, _ in FLAGS if disable is not None}


@dataclass(frozen=True)
class FlagProblem:
    """One thing wrong with a list of compatibility flags, as workerd reports it."""

    index: int
    """Position in the list of the flag it is about."""
    message: str
    """workerd's text, such as ``No such compatibility flag: <flag>``."""
    fix: str
    """What to change."""
    fatal: bool = True
    """False for a finding workerd only warns about (a flag the date already turns on)."""


def flag_problems(compat_date: str | None, flags: Sequence[str]) -> list[FlagProblem]:
    """What workerd would refuse (or warn about) in ``flags`` under ``compat_date``."""
    problems: list[FlagProblem] = []
    seen: dict[str, int] = {}
    for index, flag in enumerate(flags):
        if flag in seen:
            problems.append(FlagProblem(index, f"Compatibility flag specified multiple times: {flag}", "list it once"))
            continue
        seen[flag] = index
        if flag in _ENABLE:
            disable, default_date, experimental = _ENABLE[flag]
            if disable is not None and disable in seen:
                problems.append(FlagProblem(
                    index, f"Compatibility flags are mutually contradictory: {flag} vs {disable}",
                    f'keep only one: "{flag}" turns the behaviour on, "{disable}" turns it off',
                ))
            if experimental:
                problems.append(FlagProblem(
                    index,
                    f"The compatibility flag {flag} is experimental and cannot yet be used in Workers "
                    "deployed to Cloudflare.",
                    "remove it",
                ))
            elif compat_date is not None and default_date is not None and (
                default_date == "always" or compat_date >= default_date
            ):
                since = "is the default," if default_date == "always" else f"became the default as of {default_date}"
                problems.append(FlagProblem(
                    index, f"The compatibility flag {flag} {since} so does not need to be specified anymore.",
                    "remove it", fatal=False,
                ))
        elif flag in _OPPOSITE:
            enable = _OPPOSITE[flag]
            if enable in seen:
                problems.append(FlagProblem(
                    index, f"Compatibility flags are mutually contradictory: {enable} vs {flag}",
                    f'keep only one: "{enable}" turns the behaviour on, "{flag}" turns it off',
                ))
        else:
            problems.append(FlagProblem(index, f"No such compatibility flag: {flag}", _unknown_fix(flag)))
    return problems


def _unknown_fix(flag: str) -> str:
    for prefix in ("no_", "disable_", "not_"):
        enable = flag[len(prefix):] if flag.startswith(prefix) else None
        if enable is not None and enable in _ENABLE:
            disable = _ENABLE[enable][0]
            if disable is None:
                return f'"{enable}" has no flag that turns it off; remove "{flag}"'
            return f'the flag that turns "{enable}" off is "{disable}"'
    hint = did_you_mean(flag, [*_ENABLE, *_OPPOSITE])
    return f"check the spelling{hint}, or remove it"


@dataclass(frozen=True)
class Compatibility:
    """The behaviour switches derived from a compatibility date and flags."""

    date: str | None = None
    flags: tuple[str, ...] = ()
    implicit_dependencies: bool = True
    preserve_non_retryable: bool = True
    python_workflows: bool = True

    @classmethod
    def resolve(cls, compat_date: str | None = None, flags: "list[str] | tuple[str, ...]" = ()) -> "Compatibility":
        """Derive the switches; a malformed date or a flag workerd refuses raises :class:`ConfigError`."""
        if compat_date is not None:
            if not isinstance(compat_date, str) or not _DATE.match(compat_date):
                raise ConfigError(
                    f'compatibility_date must be a date "YYYY-MM-DD", got {compat_date!r}'
                )
            try:
                date.fromisoformat(compat_date)
            except ValueError:
                raise ConfigError(f"compatibility_date {compat_date!r} is not a real date") from None
        refused = [problem for problem in flag_problems(compat_date, flags) if problem.fatal]
        if refused:
            raise ConfigError(
                "compatibility_flags: " + "; ".join(f"{problem.message} ({problem.fix})" for problem in refused)
            )
        effective = compat_date or "9999-12-31"

        def switch(enable: str, default: bool) -> bool:
            disable = _ENABLE[enable][0]
            if enable in flags:
                return True
            return default and disable not in flags

        return cls(
            date=compat_date,
            flags=tuple(flags),
            # workerd's $impliedByAfterDate(python_workers, ...): the emulator runs Python only
            implicit_dependencies=switch(
                "python_workflows_implicit_dependencies", effective >= IMPLICIT_DEPENDENCIES_DATE
            ),
            preserve_non_retryable=switch(
                "workflows_preserve_non_retryable_error_message", effective >= PRESERVE_NON_RETRYABLE_DATE
            ),
            python_workflows=switch("python_workflows", effective >= PYTHON_WORKFLOWS_DATE),
        )

    def python_workflows_problem(self) -> str | None:
        """Why a Python workflow cannot run under these settings (and the fix), or None."""
        if self.python_workflows:
            return None
        if "disable_python_workflows" in self.flags:
            return (
                'compatibility_flags has "disable_python_workflows", which turns Python Workflows off; '
                "remove it"
            )
        return (
            f'Python Workflows need the "python_workflows" compatibility flag: "python_workers" implies '
            f"it only for compatibility dates from {PYTHON_WORKFLOWS_DATE}, and this compatibility "
            f'date is {self.date}; add "python_workflows" to compatibility_flags, or set '
            f"compatibility_date to {PYTHON_WORKFLOWS_DATE} or later"
        )
