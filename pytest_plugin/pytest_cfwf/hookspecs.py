"""Hooks that pytest-cfwf adds to pytest (through ``pytest_addhooks``).

Implement them in a ``conftest.py`` or a plugin. Mark implementations
``@pytest.hookimpl(optionalhook=True)`` so that running without this plugin
(``-p no:cfwf`` or ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``) does not fail with
``PluginValidationError: unknown hook``::

    @pytest.hookimpl(optionalhook=True)
    def pytest_cfwf_configure(emulator, request):
        emulator.add_workflow("echo", Echo, binding="ECHO")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import pytest

    from cfwf_emulator import Emulator

__all__ = ["pytest_cfwf_configure"]

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_cfwf_configure(emulator: "Emulator", request: "pytest.FixtureRequest") -> None:
    """Called for every emulator the ``cfwf`` fixture or ``cfwf_factory`` creates, before the test uses it.

    ``emulator`` is not started yet (it starts in the test's event loop on first use); add
    workflows, workers or observers to it here. ``request`` is the requesting test's fixture
    request (``request.node`` is the test item, ``request.node.get_closest_marker(...)`` reads
    its markers). Every implementation is called; return values are ignored.
    """
