"""Running ``async def`` tests: with ``asyncio.run`` when no other plugin claims them.

A coroutine test is someone else's when pytest-asyncio is active and the test carries
``@pytest.mark.asyncio`` (in auto mode pytest-asyncio marks every async test), when anyio's
plugin gives it an ``anyio_backend``, or when pytest-trio is active and it is marked ``trio``.
Everything else runs here, one fresh event loop per test (per example for a hypothesis
``@given`` test); the emulators the test's fixtures created are closed in that loop before it
ends. Turn this off with the ini option ``cfwf_asyncio = false``; ``cfwf_async_timeout`` bounds
each test in real seconds.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Coroutine, Generator

import pytest

from .lifecycle import tracker_for, tracker_of
from .options import async_runner_enabled, async_timeout

__all__ = ["pytest_pyfunc_call", "pytest_pyfunc_call_close_emulators"]

_CLAIMING_MARKERS = (("asyncio", "asyncio"), ("trio", "trio"))


def _hypothesis_inner(function: Any) -> Any:
    """The coroutine function under a hypothesis ``@given`` wrapper, if any."""
    inner = getattr(getattr(function, "hypothesis", None), "inner_test", None)
    return inner if inspect.iscoroutinefunction(inner) else None


def _claimed_elsewhere(item: pytest.Function) -> bool:
    if "anyio_backend" in item.funcargs:
        return True
    plugins = item.config.pluginmanager
    return any(
        item.get_closest_marker(marker) is not None and plugins.has_plugin(plugin)
        for marker, plugin in _CLAIMING_MARKERS
    )


def _run(coroutine: Coroutine[Any, Any, Any], item: pytest.Function, timeout: float | None) -> None:
    import asyncio

    async def main() -> None:
        try:
            if timeout is None:
                await coroutine
            else:
                try:
                    await asyncio.wait_for(coroutine, timeout)
                except asyncio.TimeoutError:
                    raise TimeoutError(
                        f"{item.nodeid} did not finish within {timeout:g} s (ini option cfwf_async_timeout)"
                    ) from None
        finally:
            await tracker_for(item).aclose_running()

    asyncio.run(main())


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an unclaimed ``async def`` test (or hypothesis test of one) with ``asyncio.run``."""
    function = pyfuncitem.obj
    inner = _hypothesis_inner(function)
    if inner is None and not inspect.iscoroutinefunction(function):
        return None
    if not async_runner_enabled(pyfuncitem.config) or _claimed_elsewhere(pyfuncitem):
        return None
    timeout = async_timeout(pyfuncitem.config)
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    if inner is None:
        _run(function(**kwargs), pyfuncitem, timeout)
        return True

    @functools.wraps(inner)
    def run_example(*args: Any, **example_kwargs: Any) -> None:
        _run(inner(*args, **example_kwargs), pyfuncitem, timeout)

    function.hypothesis.inner_test = run_example
    try:
        function(**kwargs)
    finally:
        function.hypothesis.inner_test = inner
    return True


def _closing(original: Callable[..., Any], item: pytest.Function) -> Callable[..., Any]:
    @functools.wraps(original)
    async def closing(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        finally:
            tracker = tracker_of(item)
            if tracker is not None:
                await tracker.aclose_running()

    return closing


@pytest.hookimpl(wrapper=True, specname="pytest_pyfunc_call")
def pytest_pyfunc_call_close_emulators(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """Close the test's emulators in its loop once another plugin's runner is done with the test.

    anyio closes its loop right after the test, so its test function is wrapped to close them
    inside; pytest-asyncio keeps its loop open, so they are closed in it after the call.
    """
    original = pyfuncitem.obj
    swapped = "anyio_backend" in pyfuncitem.funcargs and inspect.iscoroutinefunction(original)
    if swapped:
        pyfuncitem.obj = _closing(original, pyfuncitem)
    try:
        return (yield)
    finally:
        if swapped:
            pyfuncitem.obj = original
        tracker = tracker_of(pyfuncitem)
        if tracker is not None:
            tracker.close_idle()
