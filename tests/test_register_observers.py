"""``emu.register`` refuses an observer that would silently hear nothing.

Contract: README "Observing" (hook methods are marked ``@hookimpl``); pluggy ignores methods that
are not marked, so without this check such an observer is registered and never called.
"""

from __future__ import annotations

import pytest

from cfwf_emulator import Emulator
from cfwf_emulator.hooks import hookimpl


class Unmarked:
    def cfwf_instance_status_changed(self, instance_id, old, new):
        pass


class Misspelt:
    @hookimpl
    def cfwf_instance_status_changed(self, new):
        pass

    @hookimpl
    def cfwf_step_started(self, name):
        pass


class Empty:
    def on_status(self, new):
        pass


class Marked:
    def __init__(self):
        self.seen = []

    @hookimpl
    def cfwf_instance_status_changed(self, instance_id, new):
        self.seen.append((instance_id, new))


@pytest.mark.parametrize(
    ("observer", "problem"),
    [
        (Unmarked(), "cfwf_instance_status_changed is not marked @hookimpl"),
        (Misspelt(), "cfwf_step_started is not a hook (did you mean 'cfwf_step_start'"),
        (Empty(), "it has no hook methods"),
    ],
    ids=["unmarked", "misspelt", "empty"],
)
def test_an_observer_that_would_hear_nothing_is_refused_with_the_marker_to_use(observer, problem):
    emu = Emulator()
    with pytest.raises(TypeError) as caught:
        emu.register(observer)
    message = str(caught.value)
    assert problem in message
    assert "@hookimpl (from cfwf_emulator.hooks import hookimpl)" in message
    assert "cfwf_step_attempt" in message  # the hooks there are
    assert not emu.hooks.is_registered(observer)


async def test_a_marked_observer_is_registered_and_hears_its_hook():
    from cfwf_emulator import WorkflowEntrypoint

    class Quick(WorkflowEntrypoint):
        async def run(self, event, step):
            return 1

    observer = Marked()
    emu = Emulator(clock="virtual")
    emu.add_workflow("quick", Quick, binding="QUICK")
    emu.register(observer)
    async with emu:
        await emu.env.QUICK.create(id="q1")
        await emu.run_until_idle()
    assert observer.seen[-1] == ("q1", "complete")
