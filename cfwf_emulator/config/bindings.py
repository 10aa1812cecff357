"""Validation of the binding sections of a wrangler config: workflows, KV, D1, R2 and the rest.

Each reader takes the raw value of one config key and returns what it declares together with the
binding names it introduces (for the cross-kind duplicate check), recording any problem in a
:class:`~cfwf_emulator.config.source.Diagnostics`.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Any

from ..cron import parse_cron
from .jsonc import KeyPath
from .project import D1Config, KVConfig, R2Config, UnsupportedBindingConfig, WorkflowConfig
from ..validation import WORKFLOW_NAME_RULE, is_workflow_name
from .source import Diagnostics, describe_value, format_key_path

__all__ = [
    "BINDING_NAME_FIX",
    "UNSUPPORTED_KINDS",
    "BindingName",
    "Bindings",
    "binding_name_problem",
    "is_identifier",
    "read_bindings",
    "read_crons",
]

_WORKFLOW_FIELDS = ("binding", "name", "class_name", "limits", "schedules")
_PRODUCTION_MAX_STEPS = 25_000

# Bindings of these kinds are listed as unsupported: key -> (shape, field naming the binding).
# "list": an array of objects; "object": a single object; "nested": {"bindings": [...]}.
UNSUPPORTED_KINDS: dict[str, tuple[str, str]] = {
    "services": ("list", "binding"),
    "vectorize": ("list", "binding"),
    "hyperdrive": ("list", "binding"),
    "analytics_engine_datasets": ("list", "binding"),
    "dispatch_namespaces": ("list", "binding"),
    "mtls_certificates": ("list", "binding"),
    "pipelines": ("list", "binding"),
    "secrets_store_secrets": ("list", "binding"),
    "ai_search_namespaces": ("list", "binding"),
    "ai_search": ("list", "binding"),
    "agent_memory": ("list", "binding"),
    "artifacts": ("list", "binding"),
    "flagship": ("list", "binding"),
    "worker_loaders": ("list", "binding"),
    "vpc_services": ("list", "binding"),
    "vpc_networks": ("list", "binding"),
    "unsafe_hello_world": ("list", "binding"),
    "send_email": ("list", "name"),
    "ratelimits": ("list", "name"),
    "ai": ("object", "binding"),
    "browser": ("object", "binding"),
    "images": ("object", "binding"),
    "version_metadata": ("object", "binding"),
    "stream": ("object", "binding"),
    "media": ("object", "binding"),
    "websearch": ("object", "binding"),
    "assets": ("object", "binding"),
    "durable_objects": ("nested", "name"),
    "unsafe": ("nested", "name"),
    "logfwdr": ("nested", "name"),
    "queues": ("queues", "binding"),
    "wasm_modules": ("modules", ""),
    "text_blobs": ("modules", ""),
    "data_blobs": ("modules", ""),
}
"""Config keys whose bindings the emulator records but does not provide, with their shapes."""

# Optional fields of the emulated binding kinds: name -> expected type ("string" or "boolean").
_KV_FIELDS = {"id": "string", "preview_id": "string", "remote": "boolean"}
_D1_FIELDS = {
    "database_name": "string",
    "database_id": "string",
    "preview_database_id": "string",
    "migrations_dir": "string",
    "migrations_table": "string",
    "migrations_pattern": "string",
    "database_internal_env": "string",
    "remote": "boolean",
}
_R2_FIELDS = {
    "bucket_name": "string",
    "preview_bucket_name": "string",
    "jurisdiction": "string",
    "remote": "boolean",
    "local_dev": "object",
}
_PY_TYPES: dict[str, type] = {"string": str, "boolean": bool, "object": dict}


def is_identifier(name: str) -> bool:
    """True when ``name`` can be written as ``env.<name>`` in Python."""
    return name.isidentifier() and not keyword.iskeyword(name)


BINDING_NAME_FIX = (
    'use letters, digits and underscores, not starting with a digit and not a Python keyword, '
    'e.g. "MY_BINDING"'
)
"""How to name a binding, said after :func:`binding_name_problem`'s finding."""


def binding_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a binding on ``env`` (None when it can).

    The one rule for bindings from a config and from ``Emulator.add_workflow``: the emulator
    exposes each as ``env.<binding>``, so it must be a Python identifier and not a keyword.
    """
    if keyword.iskeyword(name):
        return f"binding name {describe_value(name)} is a Python keyword, so env.{name} cannot be written"
    if not name.isidentifier():
        return (
            f"binding name {describe_value(name)} is not a valid Python identifier "
            "(the emulator exposes it as env.<binding>)"
        )
    return None


@dataclass(frozen=True)
class BindingName:
    """A name a binding puts on ``env``, with the kind and key path that declared it."""

    name: str
    kind: str
    key: KeyPath


@dataclass
class Bindings:
    """What one config section declares, kind by kind (``None`` = the key is absent)."""

    workflows: list[WorkflowConfig] | None = None
    kv_namespaces: list[KVConfig] | None = None
    d1_databases: list[D1Config] | None = None
    r2_buckets: list[R2Config] | None = None
    unsupported: dict[str, list[UnsupportedBindingConfig]] = field(default_factory=dict)
    names: dict[str, list[BindingName]] = field(default_factory=dict)
    """Config key -> binding names it introduced."""


def read_bindings(
    diag: Diagnostics, raw: dict[str, Any], base: KeyPath, own_names: set[str]
) -> Bindings:
    """Read every binding key present in the section ``raw`` located at ``base``."""
    out = Bindings()
    if "workflows" in raw:
        out.workflows = _read_workflows(diag, raw["workflows"], base + ("workflows",), own_names, out)
    if "kv_namespaces" in raw:
        entries = _read_entries(diag, raw["kv_namespaces"], base + ("kv_namespaces",), _KV_FIELDS, out)
        out.kv_namespaces = [KVConfig(binding=b, id=_opt(e, "id")) for b, e in entries]
    if "d1_databases" in raw:
        entries = _read_entries(diag, raw["d1_databases"], base + ("d1_databases",), _D1_FIELDS, out)
        out.d1_databases = [
            D1Config(
                binding=b, database_name=_opt(e, "database_name"), database_id=_opt(e, "database_id")
            )
            for b, e in entries
        ]
    if "r2_buckets" in raw:
        entries = _read_entries(diag, raw["r2_buckets"], base + ("r2_buckets",), _R2_FIELDS, out)
        out.r2_buckets = [R2Config(binding=b, bucket_name=_opt(e, "bucket_name")) for b, e in entries]
    for kind in UNSUPPORTED_KINDS:
        if kind in raw:
            out.unsupported[kind] = _read_unsupported(diag, kind, raw[kind], base + (kind,), out)
    return out


def _opt(entry: dict[str, Any], name: str) -> str | None:
    value = entry.get(name)
    return value if isinstance(value, str) else None


def _expect_list(diag: Diagnostics, value: Any, key: KeyPath, what: str) -> list[Any]:
    if isinstance(value, list):
        return value
    diag.error(
        key, f"must be an array of {what} but got {describe_value(value)}", "write [ {...}, ... ]"
    )
    return []


def _required_string(diag: Diagnostics, entry: dict[str, Any], name: str, key: KeyPath) -> str | None:
    value = entry.get(name)
    if isinstance(value, str):
        return value
    if value is None and name not in entry:
        diag.error(key, f'is missing the required string field "{name}"', f'add "{name}": "..."')
    else:
        diag.error(
            key + (name,), f"must be a string but got {describe_value(value)}", f'write "{name}": "..."'
        )
    return None


def _binding_field(
    diag: Diagnostics, entry: dict[str, Any], key: KeyPath, out: Bindings, kind: str
) -> str | None:
    """The ``binding`` of an emulated kind: a string usable as ``env.<binding>``."""
    binding = _required_string(diag, entry, "binding", key)
    if binding is None:
        return None
    problem = binding_name_problem(binding)
    if problem is not None:
        diag.error(key + ("binding",), problem, BINDING_NAME_FIX)
        return None
    out.names.setdefault(kind, []).append(BindingName(binding, kind, key + ("binding",)))
    return binding


def _read_workflows(
    diag: Diagnostics, value: Any, key: KeyPath, own_names: set[str], out: Bindings
) -> list[WorkflowConfig]:
    result: list[WorkflowConfig] = []
    first_seen: dict[str, KeyPath] = {}
    for index, entry in enumerate(_expect_list(diag, value, key, "workflow objects")):
        item = key + (index,)
        if not isinstance(entry, dict):
            diag.error(
                item,
                f"each workflow binding must be an object but got {describe_value(entry)}",
                'write {"name": "...", "binding": "...", "class_name": "..."}',
            )
            continue
        ok = True
        for extra in entry:
            if extra == "script_name":
                if entry["script_name"] in own_names:
                    continue
                diag.error(
                    item + ("script_name",),
                    f"cross-script workflow bindings are not supported by the emulator (script_name "
                    f"{describe_value(entry['script_name'])} names another Worker)",
                    "move the Workflow class into this project's main module and remove script_name",
                )
                ok = False
            elif extra not in _WORKFLOW_FIELDS:
                diag.error(
                    item + (extra,),
                    f'unknown field "{extra}" in a workflow binding',
                    f"remove it; allowed fields are {', '.join(_WORKFLOW_FIELDS)}",
                )
                ok = False
        name = _required_string(diag, entry, "name", item)
        if name is not None and not is_workflow_name(name):
            diag.error(item + ("name",), f"invalid workflow name {describe_value(name)}. {WORKFLOW_NAME_RULE}")
            name = None
        if name is not None:
            if name in first_seen:
                diag.error(
                    item + ("name",),
                    f"duplicate workflow name {describe_value(name)} (also used by "
                    f"{format_key_path(first_seen[name])})",
                    "give each workflow a unique name",
                )
                name = None
            else:
                first_seen[name] = item
        binding = _binding_field(diag, entry, item, out, "workflows")
        class_name = _required_string(diag, entry, "class_name", item)
        if class_name is not None and not is_identifier(class_name):
            diag.error(
                item + ("class_name",),
                f"class_name {describe_value(class_name)} is not a valid Python class name",
                "write the name of the WorkflowEntrypoint subclass defined in the main module",
            )
            class_name = None
        steps = _read_limits(diag, entry, item) if "limits" in entry else None
        schedules = read_crons(diag, entry["schedules"], item + ("schedules",)) if "schedules" in entry else ()
        if ok and name is not None and binding is not None and class_name is not None and steps != -1:
            result.append(
                WorkflowConfig(
                    name=name, binding=binding, class_name=class_name, step_limit=steps,
                    schedules=schedules or (),
                )
            )
    return result


def _read_limits(diag: Diagnostics, entry: dict[str, Any], item: KeyPath) -> int | None:
    """``limits.steps`` as an int, None when absent, -1 after recording an error."""
    limits = entry["limits"]
    key = item + ("limits",)
    if not isinstance(limits, dict):
        diag.error(
            key,
            f"must be an object but got {describe_value(limits)}",
            'write "limits": {"steps": 10000}',
        )
        return -1
    bad = False
    for extra in limits:
        if extra != "steps":
            diag.error(
                key + (extra,),
                f'unknown field "{extra}" in limits',
                'remove it; only "steps" is allowed',
            )
            bad = True
    if "steps" not in limits:
        return -1 if bad else None
    steps = limits["steps"]
    if isinstance(steps, float) and steps.is_integer():
        steps = int(steps)  # JavaScript's Number.isInteger(10000.0) is true
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        diag.error(
            key + ("steps",),
            f'"limits.steps" field must be a positive integer but got {describe_value(limits["steps"])}',
            "write a whole number from 1 to 25000, or remove it for the default of 10,000",
        )
        return -1
    if steps > _PRODUCTION_MAX_STEPS:
        diag.warn(
            key + ("steps",),
            f"a step limit of {steps} exceeds the production maximum of 25,000; this configuration may "
            "not work when deployed",
        )
    return -1 if bad else steps


def read_crons(diag: Diagnostics, value: Any, key: KeyPath) -> tuple[str, ...] | None:
    """A cron string or a non-empty array of them (``schedules``, ``triggers.crons``), each checked
    against Cloudflare's cron syntax; None after recording an error."""
    items = value if isinstance(value, list) else [value]
    if (isinstance(value, list) and not value) or not all(isinstance(s, str) and s for s in items):
        diag.error(
            key,
            f"must be a non-empty cron string or a non-empty array of them but got {describe_value(value)}",
            'write e.g. "schedules": ["0 * * * *"]',
        )
        return None
    bad = False
    for index, text in enumerate(items):
        try:
            parse_cron(text)
        except ValueError as exc:
            where = key + (index,) if isinstance(value, list) else key
            diag.error(where, str(exc), "fix the expression; see Cloudflare's Cron Triggers syntax")
            bad = True
    return None if bad else tuple(items)


def _read_entries(
    diag: Diagnostics, value: Any, key: KeyPath, fields: dict[str, str], out: Bindings
) -> list[tuple[str, dict[str, Any]]]:
    """Entries of kv_namespaces / d1_databases / r2_buckets, as (binding, raw entry)."""
    kind = key[-1]
    assert isinstance(kind, str)
    result: list[tuple[str, dict[str, Any]]] = []
    for index, entry in enumerate(_expect_list(diag, value, key, "binding objects")):
        item = key + (index,)
        if not isinstance(entry, dict):
            diag.error(
                item,
                f"each binding must be an object but got {describe_value(entry)}",
                'write {"binding": "..."}',
            )
            continue
        ok = True
        for name, raw in entry.items():
            if name == "binding":
                continue
            expected = fields.get(name)
            if expected is None:
                diag.warn(item + (name,), f'unexpected field "{name}" (wrangler ignores it too)')
            elif not isinstance(raw, _PY_TYPES[expected]):
                diag.error(item + (name,), f"must be a {expected} but got {describe_value(raw)}")
                ok = False
        binding = _binding_field(diag, entry, item, out, kind)
        if ok and binding is not None:
            result.append((binding, entry))
    return result


def _read_unsupported(
    diag: Diagnostics, kind: str, value: Any, key: KeyPath, out: Bindings
) -> list[UnsupportedBindingConfig]:
    shape, name_field = UNSUPPORTED_KINDS[kind]
    found: list[tuple[str, str, KeyPath]] = []  # (binding, kind label, key of the name)
    if shape == "list":
        found = _named_entries(diag, kind, value, key, name_field)
    elif shape == "object":
        if not isinstance(value, dict):
            diag.error(
                key, f"must be an object but got {describe_value(value)}", 'write {"binding": "..."}'
            )
        elif name_field in value or kind != "assets":
            name = _required_string(diag, value, name_field, key)
            if name is not None:
                found.append((name, kind, key + (name_field,)))
    elif shape == "nested":
        if not isinstance(value, dict):
            diag.error(
                key, f"must be an object but got {describe_value(value)}", 'write {"bindings": [...]}'
            )
        elif "bindings" in value:
            found = _named_entries(diag, kind, value["bindings"], key + ("bindings",), name_field)
    elif shape == "queues":
        if not isinstance(value, dict):
            diag.error(
                key, f"must be an object but got {describe_value(value)}", 'write {"producers": [...]}'
            )
        else:
            if "producers" in value:
                found = _named_entries(
                    diag, "queues.producers", value["producers"], key + ("producers",), "binding"
                )
            if "consumers" in value:
                diag.warn(
                    key + ("consumers",), "the emulator does not run queue consumers; they are ignored"
                )
    else:  # "modules": {NAME: "path"} (service-worker format)
        if not isinstance(value, dict):
            diag.error(
                key, f"must be an object mapping names to file paths but got {describe_value(value)}"
            )
        else:
            found = [(name, kind, key + (name,)) for name in value]
    result: list[UnsupportedBindingConfig] = []
    for name, label, name_key in found:
        result.append(UnsupportedBindingConfig(binding=name, kind=label))
        out.names.setdefault(kind, []).append(BindingName(name, label, name_key))
    return result


def _named_entries(
    diag: Diagnostics, kind: str, value: Any, key: KeyPath, name_field: str
) -> list[tuple[str, str, KeyPath]]:
    found: list[tuple[str, str, KeyPath]] = []
    for index, entry in enumerate(_expect_list(diag, value, key, "binding objects")):
        item = key + (index,)
        if not isinstance(entry, dict):
            diag.error(
                item,
                f"each binding must be an object but got {describe_value(entry)}",
                f'write {{"{name_field}": "..."}}',
            )
            continue
        name = _required_string(diag, entry, name_field, item)
        if name is not None:
            found.append((name, kind, item + (name_field,)))
    return found
