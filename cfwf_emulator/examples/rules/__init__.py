"""Example workflows for the rules checker (``cfwf_emulator.testing.rules``).

``good.py`` follows every Rule of Workflows; each other module breaks exactly one, the way real
code does, and says which in its docstring. They are written as Cloudflare Python Workflows
(only the import differs: on Cloudflare, ``from workers import WorkflowEntrypoint``).
"""

#: Module name -> the rule id the checker reports for it.
BROKEN_RULES = {
    "step_names": "deterministic-step-names",
    "step_order": "deterministic-step-order",
    "state_outside_steps": "state-outside-steps",
    "unawaited_step": "await-steps",
    "side_effects": "side-effects-in-steps",
    "event_mutation": "immutable-event",
    "result_too_large": "step-result-size",
    "result_not_serialisable": "serialisable-results",
    "exception_types": "portable-exceptions",
    "non_idempotent_step": "idempotent-steps",
    "call_form": "portable-step-api",
}
