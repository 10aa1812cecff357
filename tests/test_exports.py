"""The public surface is explicit (as trio's test_exports keeps it): each public module's
``__all__`` is pinned here, every name in it exists and is documented, and nothing else in the
module looks public by accident. Changing the surface means changing this file, on purpose."""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

PUBLIC = {
    "cfwf_emulator": [
        "ConfigError", "ConfigWarning", "Emulator", "Limits", "NonRetryableError", "ObserverWarning",
        "RealClock", "StalledError", "StateLockedError", "StateReadOnlyError", "StepError", "StorageWarning", "StoreError", "VirtualClock",
        "Workflow", "WorkflowEntrypoint", "WorkflowError", "WorkflowFatalError", "WorkflowInstance",
        "WorkflowTimeoutError",
    ],
    "cfwf_emulator.client": ["API_PATH", "ExplorerClient", "ExplorerError"],
    "cfwf_emulator.api": [
        "BatchDeleteResult", "DeleteError", "DeletedInstance", "InstancePage", "InstanceSummary", "JOURNAL_FORMAT",
        "LocalAPI", "STATUSES", "WorkflowSummary", "WorkflowsAPI",
        # typed views of status() and describe() (defined in cfwf_emulator.views)
        "AttemptDetails", "AttemptExtension", "DoStepDetails", "ErrorDetails", "EventDetails", "InstanceDetails",
        "InstanceExtension", "InstanceStatus", "RetriesDetails", "SleepStepDetails", "StatusDetails",
        "StepConfigDetails", "StepDetails", "StepExtension", "WaitStepDetails",
        # the event stream (emu.api.subscribe)
        "EVENT_TYPES", "InstanceEvent",
        # in-process test tooling (emu.api.testing)
        "AttemptView", "InstanceView", "LocalTestingAPI", "PendingStep", "StepOutcome", "TERMINAL",
    ],
    "cfwf_emulator.cli": ["main"],
    "cfwf_emulator.cron": ["CronExpression", "MAX_CRON_LENGTH", "parse_cron"],
    "cfwf_emulator.testing": [
        "InstanceModifier", "IntrospectionError", "ModificationRecorder", "RULES", "RulesReport", "StepSelector",
        "Violation", "WorkflowInstanceIntrospector", "WorkflowIntrospector", "assert_follows_rules",
        "check_workflow", "introspect_workflow", "introspect_workflow_instance",
    ],
    "cfwf_emulator.workers": [
        "CURRENT_ENV", "DurableObject", "ExecutionContext", "Headers", "NonRetryableError", "Request", "Response",
        "WorkerEntrypoint", "WorkflowEntrypoint", "env", "handler",
    ],
    "cfwf_emulator.workers.workflows": ["NonRetryableError"],
    "cfwf_emulator.server": [
        "API_ROOT", "DEFAULT_PORT", "DevOptions", "DevServerApp", "ServerRunningError", "create_app",
        "default_state_dir", "openapi_document", "read_record", "run_dev_server", "serve", "serving",
    ],
    "cfwf_emulator.runtime": ["NotEmulatedError", "install", "installed", "real_runtime"],
    "cfwf_emulator.runtime.js": ["JSON", "Object", "console"],
    "cfwf_emulator.runtime.pyodide_ffi": [
        "ConversionError", "IN_BROWSER", "JsException", "JsProxy", "create_once_callable", "create_proxy",
        "destroy_proxies", "to_js",
    ],
    "cfwf_emulator.resources": [
        "D1Database", "D1Error", "D1PreparedStatement", "D1TypeError", "JsArray", "JsBytes", "JsObject", "KVError",
        "KVNamespace", "R2Bucket", "R2Checksums", "R2Error", "R2Object", "R2ObjectBody", "R2StorageError",
        "UnsupportedBinding", "UnsupportedBindingError",
    ],
    "cfwf_emulator.store": ["InstanceSummary", "MemoryStore", "SQLiteStore", "Store", "StoreError", "open_store", "sqlite_path"],
    "cfwf_emulator.sdk": ["DISTRIBUTION", "SdkBehaviour", "behaviour_of", "installed_sdk", "tuples_as_lists"],
    "cfwf_emulator.hooks": [
        "Announcer", "EngineHookSpecs", "ObserverWarning", "PROJECT", "StepContext", "current_step", "hookimpl",
        "hookspec", "make_plugin_manager",
    ],
    "pytest_cfwf": [
        "EmulatorFactory", "cfwf", "cfwf_env", "cfwf_factory", "introspect_workflow", "introspect_workflow_instance",
        "pytest_addhooks", "pytest_addoption", "pytest_configure", "pytest_pyfunc_call",
        "pytest_pyfunc_call_close_emulators", "pytest_runtest_makereport", "pytest_runtest_setup",
        "pytest_runtest_teardown",
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_public_names_are_pinned_present_and_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    assert (module.__doc__ or "").strip(), f"{module_name} has no docstring"
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, (type, types.FunctionType)) or inspect.isroutine(value):
            assert (value.__doc__ or "").strip(), f"{module_name}.{name} has no docstring"


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_nothing_else_looks_public(module_name: str) -> None:
    """A name without an underscore that is defined in the module must be in ``__all__``."""
    module = importlib.import_module(module_name)
    stray = [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name not in module.__all__
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == module_name
    ]
    assert stray == [], f"{module_name} defines public-looking names outside __all__: {stray}"
