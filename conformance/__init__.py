"""Property-based conformance suites for cfwf-emulator.

``programs`` defines the shared program format (see its docstring), hypothesis strategies for it,
an interpreter workflow and a driver that runs a program on an :class:`~cfwf_emulator.Emulator`;
``model`` is an independent reference model of the observable semantics. The ``test_*`` modules
check the emulator against the model, the instance state machine, replay determinism and bad input.
"""
