"""The fixtures: ``cfwf``, ``cfwf_env``, ``cfwf_factory``, ``introspect_workflow_instance``,
``introspect_workflow``.

All of them are synchronous, so they work the same under the plugin's own runner,
pytest-asyncio (strict or auto mode) and anyio. Emulators start lazily, in the loop of the
test that first uses them; the plugin closes them and disposes introspectors at test end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

from .lifecycle import Tracker, state_of, tracker_for

if TYPE_CHECKING:
    from cfwf_emulator import Emulator, Workflow
    from cfwf_emulator.emulator import Env
    from cfwf_emulator.testing import WorkflowInstanceIntrospector, WorkflowIntrospector

__all__ = [
    "EmulatorFactory",
    "cfwf",
    "cfwf_env",
    "cfwf_factory",
    "introspect_workflow",
    "introspect_workflow_instance",
    "make_emulator",
]


def make_emulator(
    request: pytest.FixtureRequest, item: pytest.Item | None, tracker: Tracker, overrides: dict[str, Any]
) -> "Emulator":
    """Create an emulator with the test's options (see :mod:`pytest_cfwf.options`), track it,
    and call the ``pytest_cfwf_configure`` hook."""
    from cfwf_emulator import Emulator

    from .options import no_config_note, resolve_options

    source, options, not_found = resolve_options(request.config, item, overrides)
    emulator = Emulator.from_config(source, **options) if source is not None else Emulator(**options)
    if not_found:
        emulator.env.note(no_config_note(request.config))
    tracker.add_emulator(emulator)
    request.config.hook.pytest_cfwf_configure(emulator=emulator, request=request)
    return emulator


@pytest.fixture
def cfwf(request: pytest.FixtureRequest) -> "Emulator":
    """A fresh cfwf-emulator ``Emulator`` for this test: virtual clock, in-memory storage.

    Loaded from ``--cfwf-config`` / ini ``cfwf_config`` (relative to the rootdir), else from the
    nearest wrangler.json/.jsonc/.toml in the rootdir or a directory above it, else empty (use
    ``cfwf.add_workflow``; a missing binding's error then says where the plugin looked). Override
    with ``@pytest.mark.cfwf(config=..., clock=..., storage=..., limits=...,
    compatibility_date=..., freeze_user_time=..., step_call_form=...)``. Closed at test end.
    """
    return make_emulator(request, request.node, tracker_for(request.node), {})


@pytest.fixture
def cfwf_env(cfwf: "Emulator") -> "Env":
    """``cfwf.env``: the workflow bindings and vars of the ``cfwf`` emulator."""
    return cfwf.env


class EmulatorFactory:
    """``cfwf_factory(**options)``: a fresh emulator with the ``cfwf`` fixture's defaults
    overridden by ``options`` (the same keywords as the ``cfwf`` marker), closed at test end.

    Session-scoped, so a hypothesis ``@given`` test can request it without the
    function-scoped-fixture health check; call it once per example.
    """

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._state = state_of(request.config)

    def __call__(self, **options: Any) -> "Emulator":
        """A new emulator; ``config=False`` gives an empty one, ``config="path"`` loads a project."""
        item = self._state.current
        if isinstance(item, pytest.Function):
            return make_emulator(item._request, item, tracker_for(item), options)
        return make_emulator(self._request, None, self._state.session, options)

    def __repr__(self) -> str:
        return "<cfwf_factory>"


@pytest.fixture(scope="session")
def cfwf_factory(request: pytest.FixtureRequest) -> Iterator[EmulatorFactory]:
    """``cfwf_factory(**options)`` creates a fresh emulator per call (e.g. per hypothesis example)
    with the ``cfwf`` fixture's defaults overridden by ``options``; all are closed at test end."""
    factory = EmulatorFactory(request)
    yield factory
    state_of(request.config).session.finalize()


@pytest.fixture
def introspect_workflow_instance(
    request: pytest.FixtureRequest,
) -> Callable[["Workflow", str], "WorkflowInstanceIntrospector"]:
    """``introspect_workflow_instance(binding, id)`` from ``cfwf_emulator.testing``; every
    introspector it returns is disposed at test end (so the id is free again)."""
    from cfwf_emulator.testing import introspect_workflow_instance as introspect

    tracker = tracker_for(request.node)

    def introspect_instance(binding: "Workflow", instance_id: str) -> "WorkflowInstanceIntrospector":
        introspector = introspect(binding, instance_id)
        tracker.add_disposable(introspector)
        return introspector

    introspect_instance.__doc__ = introspect.__doc__
    return introspect_instance


@pytest.fixture
def introspect_workflow(request: pytest.FixtureRequest) -> Callable[["Workflow"], "WorkflowIntrospector"]:
    """``introspect_workflow(binding)`` from ``cfwf_emulator.testing``; every session it starts
    is disposed at test end, with the instances it captured."""
    from cfwf_emulator.testing import introspect_workflow as introspect

    tracker = tracker_for(request.node)

    def introspect_all(binding: "Workflow") -> "WorkflowIntrospector":
        introspector = introspect(binding)
        tracker.add_disposable(introspector)
        return introspector

    introspect_all.__doc__ = introspect.__doc__
    return introspect_all
