"""pytest hooks of pytest-cfwf: options, hookspecs, markers, per-test cleanup, failure report."""

from __future__ import annotations

from typing import Generator

import pytest

from .lifecycle import state_of, tracker_of
from .options import MARKER_HELP, add_options

__all__ = [
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "pytest_runtest_teardown",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--cfwf-config``, ``--cfwf-clock`` and the ini options (group ``cfwf``)."""
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Declare the plugin's hooks (:mod:`pytest_cfwf.hookspecs`)."""
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``cfwf`` marker (so ``--strict-markers`` accepts it) and the plugin state.

    Also make ``workers``, ``js`` and ``pyodide.ffi`` importable as the emulator's stand-ins
    (outside Pyodide), so test modules can import the project's code at collection time even in
    a virtualenv holding Cloudflare's real SDK, which only runs inside Pyodide.
    """
    from cfwf_emulator.runtime import install

    config.addinivalue_line("markers", MARKER_HELP)
    state_of(config)
    install()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Remember the running test, for ``cfwf_factory`` (a session-scoped fixture)."""
    state_of(item.config).current = item
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """After every fixture is torn down: close or drop the test's emulators, dispose introspectors."""
    try:
        return (yield)
    finally:
        tracker = tracker_of(item)
        if tracker is not None:
            tracker.finalize()
        state = state_of(item.config)
        if state.current is item:
            state.current = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed test call, add a "cfwf instances" section: each instance's step timeline."""
    report = yield
    if report.when == "call" and report.failed:
        tracker = tracker_of(item)
        if tracker is not None and tracker.emulators:
            from .report import SECTION, format_emulators

            try:
                text = format_emulators(tracker.emulators)
            except Exception as exc:  # noqa: BLE001 - reporting must not break the run
                text = f"(cannot describe the instances: {type(exc).__name__}: {exc})"
            if text:
                report.sections.append((SECTION, text))
    return report
