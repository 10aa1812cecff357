"""The testing API: Cloudflare's ``cloudflare:test`` workflow introspection, in Python.

    async with introspect_workflow_instance(emu.env.ORDERS, "o-1") as instance:
        await instance.modify(lambda m: m.disable_sleeps())
        await emu.env.ORDERS.create(id="o-1", params={...})
        await instance.wait_for_status("complete")
"""

from __future__ import annotations

from .introspector import (
    IntrospectionError,
    WorkflowInstanceIntrospector,
    WorkflowIntrospector,
    introspect_workflow,
    introspect_workflow_instance,
)
from .modifier import InstanceModifier, ModificationRecorder
from .rules import RULES, RulesReport, Violation, assert_follows_rules, check_workflow
from .selector import StepSelector

__all__ = [
    "RULES",
    "RulesReport",
    "Violation",
    "assert_follows_rules",
    "check_workflow",
    "InstanceModifier",
    "IntrospectionError",
    "ModificationRecorder",
    "StepSelector",
    "WorkflowInstanceIntrospector",
    "WorkflowIntrospector",
    "introspect_workflow",
    "introspect_workflow_instance",
]
