"""A stand-in for a binding cfwf-emulator does not emulate (Queues, AI, Durable Objects, ...).

Using it in any way (reading an attribute, calling it) raises :class:`UnsupportedBindingError`,
which says which binding it is and how to get on: mock it in the tests.
"""

from __future__ import annotations

from typing import Any, NoReturn

from ..errors import ConfigError

__all__ = ["UnsupportedBinding", "UnsupportedBindingError"]


class UnsupportedBindingError(ConfigError):
    """A workflow used a binding of a kind cfwf-emulator does not emulate."""

    def __init__(self, binding: str, kind: str, use: str) -> None:
        super().__init__(
            f'env.{binding} is a {kind} binding, which cfwf-emulator does not emulate '
            f"(the code tried to use {use}). cfwf-emulator emulates only workflows, vars, KV, D1 "
            f"and R2 bindings; mock env.{binding} in your tests instead (for example with "
            "unittest.mock.AsyncMock, or your own object passed in the emulator's env)."
        )
        self.binding = binding
        self.kind = kind


class UnsupportedBinding:
    """Placeholder for binding ``binding`` of kind ``kind``; every use raises an error."""

    __slots__ = ("_cfwf_binding", "_cfwf_kind")

    def __init__(self, binding: str, kind: str) -> None:
        object.__setattr__(self, "_cfwf_binding", binding)
        object.__setattr__(self, "_cfwf_kind", kind)

    def __repr__(self) -> str:
        return f"<UnsupportedBinding {self._cfwf_binding!r} ({self._cfwf_kind})>"

    def _fail(self, use: str) -> NoReturn:
        raise UnsupportedBindingError(self._cfwf_binding, self._cfwf_kind, use)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            # Python's own probes (copy, pickle, inspect, ...) are not uses of the binding.
            raise AttributeError(name)
        self._fail(f"env.{self._cfwf_binding}.{name}")

    def __setattr__(self, name: str, value: Any) -> None:
        self._fail(f"env.{self._cfwf_binding}.{name} = ...")

    def __delattr__(self, name: str) -> None:
        self._fail(f"del env.{self._cfwf_binding}.{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._fail(f"env.{self._cfwf_binding}(...)")
