"""pytest-cfwf: the pytest plugin of cfwf-emulator (entry point ``cfwf`` in ``pytest11``).

Fixtures (:mod:`pytest_cfwf.fixtures`):

* ``cfwf``: a fresh ``Emulator`` per test (virtual clock, in memory), loaded from
  ``--cfwf-config`` / ini ``cfwf_config``, else the wrangler config in the rootdir, else empty;
* ``cfwf_env``: ``cfwf.env``;
* ``introspect_workflow_instance`` / ``introspect_workflow``: the testing API's functions,
  whose introspectors are disposed at test end;
* ``cfwf_factory``: ``cfwf_factory(**options)`` for a fresh emulator per call (hypothesis).

Marker ``@pytest.mark.cfwf(config=..., clock=..., storage=..., limits=...,
compatibility_date=..., freeze_user_time=..., step_call_form=...)``; options ``--cfwf-config``, ``--cfwf-clock``;
ini ``cfwf_config``, ``cfwf_clock``, ``cfwf_asyncio``, ``cfwf_async_timeout``.

``async def`` tests that no other plugin claims run with ``asyncio.run``
(:mod:`pytest_cfwf.runner`); pytest-asyncio's and anyio's tests stay theirs. A failing test's
report shows the step timeline of every instance its emulators ran (:mod:`pytest_cfwf.report`).

Hook (:mod:`pytest_cfwf.hookspecs`): ``pytest_cfwf_configure(emulator, request)``, called for
each emulator the fixtures create. Implement it with ``optionalhook=True``, so a run with the
plugin disabled (``-p no:cfwf``) does not stop with "unknown hook"::

    @pytest.hookimpl(optionalhook=True)
    def pytest_cfwf_configure(emulator, request):
        emulator.add_workflow("echo", Echo, binding="ECHO")

Importing this package is cheap: the emulator is imported only when a fixture is used.
"""

from __future__ import annotations

from .fixtures import (
    EmulatorFactory,
    cfwf,
    cfwf_env,
    cfwf_factory,
    introspect_workflow,
    introspect_workflow_instance,
)
from .plugin import (
    pytest_addhooks,
    pytest_addoption,
    pytest_configure,
    pytest_runtest_makereport,
    pytest_runtest_setup,
    pytest_runtest_teardown,
)
from .runner import pytest_pyfunc_call, pytest_pyfunc_call_close_emulators

__all__ = [
    "EmulatorFactory",
    "cfwf",
    "cfwf_env",
    "cfwf_factory",
    "introspect_workflow",
    "introspect_workflow_instance",
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_configure",
    "pytest_pyfunc_call",
    "pytest_pyfunc_call_close_emulators",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "pytest_runtest_teardown",
]
