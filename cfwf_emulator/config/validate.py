"""Turning a parsed wrangler config (plus an optional named environment) into a ProjectConfig.

Follows wrangler's rules: inheritable keys (``name``, ``main``, ``compatibility_date``,
``compatibility_flags``, ``assets``, ...) fall back to the top level when a named environment
leaves them out (and the Worker ``name`` then becomes ``"<name>-<env>"``); non-inheritable keys
(``vars`` and every binding) come only from the environment, with a warning when the top level
has them and the environment does not. Unknown keys are warnings, as in wrangler.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

from ..compat import Compatibility, flag_problems
from ..errors import ConfigError
from .bindings import BindingName, Bindings, read_bindings, read_crons
from .jsonc import KeyPath
from .project import ProjectConfig, UnsupportedBindingConfig
from .source import Diagnostics, Source, describe_value, format_key_path

__all__ = ["INHERITABLE", "NON_INHERITABLE", "TOP_LEVEL_ONLY", "build_project"]

INHERITABLE = frozenset(
    {
        "account_id", "compatibility_date", "compatibility_flags", "jsx_factory", "jsx_fragment",
        "tsconfig", "rules", "name", "main", "find_additional_modules", "preserve_file_names",
        "base_dir", "route", "routes", "triggers", "assets", "limits", "placement", "build",
        "workers_dev", "preview_urls", "migrations", "exports", "logfwdr", "no_bundle", "minify",
        "keep_names", "first_party_worker", "logpush", "upload_source_maps", "observability",
        "access", "cache", "compliance_region", "python_modules", "previews",
    }
)  # fmt: skip
"""Keys a named environment inherits from the top level (wrangler's ``inheritable`` fields)."""

NON_INHERITABLE = frozenset(
    {
        "vars", "secrets", "define", "durable_objects", "workflows", "kv_namespaces",
        "cloudchamber", "containers", "send_email", "queues", "connect", "r2_buckets",
        "d1_databases", "vectorize", "ai_search_namespaces", "ai_search", "websearch",
        "agent_memory", "hyperdrive", "services", "analytics_engine_datasets",
        "dispatch_namespaces", "mtls_certificates", "tail_consumers", "streaming_tail_consumers",
        "unsafe", "browser", "ai", "images", "stream", "media", "pipelines",
        "secrets_store_secrets", "artifacts", "unsafe_hello_world", "flagship", "worker_loaders",
        "ratelimits", "vpc_services", "vpc_networks", "version_metadata",
    }
)  # fmt: skip
"""Keys a named environment must repeat (wrangler's ``notInheritable`` fields)."""

TOP_LEVEL_ONLY = frozenset(
    {
        "env", "$schema", "dev", "site", "alias", "wasm_modules", "text_blobs", "data_blobs",
        "pages_build_output_dir", "send_metrics", "keep_vars", "addresses",
        "dependencies_instrumentation",
    }
)  # fmt: skip
"""Keys valid only at the top level of the file."""

_WORKER_NAME = re.compile(r"[a-z0-9_][a-z0-9-_]*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INHERITED_BINDING_KINDS = ("assets", "logfwdr")


@dataclass
class _Section:
    """The interpreted keys of the top level or of one ``env.<name>`` table."""

    key: KeyPath
    raw: dict[str, Any]
    name: str | None
    main: str | None
    compatibility_date: str | None
    compatibility_flags: list[str] | None
    vars: dict[str, Any] | None
    bindings: Bindings
    crons: tuple[str, ...] | None


def build_project(source: Source, env: str | None) -> ProjectConfig:
    """Validate ``source`` (for environment ``env``) and return the ProjectConfig.

    Raises ConfigError listing every problem found; warnings go into ``ProjectConfig.warnings``.
    """
    data = source.data
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source.prefix(())}the top level must be an object but got {describe_value(data)}; "
            'write a JSON object such as {"name": "my-worker", "main": "src/entry.py"}'
        )
    env_raw = _select_env(source, data, env)
    diag = Diagnostics(source)
    top_name = _string_or_none(data.get("name"))
    own_names = {top_name}
    if env is not None and env_raw is not None:
        env_name = _string_or_none(env_raw.get("name"))
        own_names |= {env_name, env_name or (f"{top_name}-{env}" if top_name else None)}
    own = {n for n in own_names if n}
    top = _read_section(diag, data, (), own, top_level=True)
    if env is None or env_raw is None:
        selected = top
        name = top.name
    else:
        selected = _read_section(diag, env_raw, ("env", env), own, top_level=False)
        name = selected.name if "name" in env_raw else (f"{top.name}-{env}" if top.name else None)
        for key in sorted(NON_INHERITABLE):
            if key in data and key not in env_raw:
                diag.warn(
                    ("env", env),
                    f'"{key}" exists at the top level, but not on "env.{env}"; "{key}" is not inherited '
                    f'by environments, so this environment has none; add "{key}" to "env.{env}"',
                )

    def inherit(field: str) -> tuple[Any, KeyPath]:
        if selected is not top and field in selected.raw:
            return getattr(selected, field), selected.key + (field,)
        return getattr(top, field), (field,)

    main, main_key = inherit("main")
    crons = selected.crons if selected is not top and "triggers" in selected.raw else top.crons
    compatibility_date, date_key = inherit("compatibility_date")
    flags, flags_key = inherit("compatibility_flags")
    problems = flag_problems(compatibility_date, flags or ())
    for problem in problems:
        if problem.fatal:
            diag.error(flags_key + (problem.index,), problem.message, problem.fix)
        else:
            diag.warn(flags_key + (problem.index,), f"{problem.message} ({problem.fix})")
    if selected.bindings.workflows and not any(problem.fatal for problem in problems):
        refused = Compatibility.resolve(compatibility_date, tuple(flags or ())).python_workflows_problem()
        if refused is not None:
            disabled = "disable_python_workflows" in (flags or ())
            diag.error(flags_key if disabled else date_key, refused)
    main_path = None
    if main is not None:
        main_path = (source.path.parent / main).resolve()
        if not main_path.is_file():
            diag.error(
                main_key,
                f"main module {describe_value(main)} does not exist (looked for {main_path})",
                f"check the path; it is relative to the config's directory {source.path.parent}",
            )
        elif "python_workers" not in (flags or []):
            diag.warn(
                flags_key,
                'wrangler requires the "python_workers" compatibility flag for a Python main module; '
                'add it to "compatibility_flags" before deploying',
            )
    bindings = selected.bindings
    unsupported: list[UnsupportedBindingConfig] = []
    names: list[BindingName] = []
    for kind, found in bindings.unsupported.items():
        if kind not in _INHERITED_BINDING_KINDS:
            unsupported += found
            names += bindings.names.get(kind, [])
    for kind in _INHERITED_BINDING_KINDS:
        origin = selected.bindings if kind in selected.raw else top.bindings
        unsupported += origin.unsupported.get(kind, [])
        names += origin.names.get(kind, [])
    for kind in ("workflows", "kv_namespaces", "d1_databases", "r2_buckets"):
        names += bindings.names.get(kind, [])
    vars_ = selected.vars or {}
    names = [BindingName(k, "vars", selected.key + ("vars", k)) for k in vars_] + names
    _check_unique_bindings(diag, names)
    diag.check()
    return ProjectConfig(
        path=source.path,
        root=source.path.parent,
        name=name,
        main=main_path,
        compatibility_date=compatibility_date,
        compatibility_flags=tuple(flags or ()),
        vars=vars_,
        workflows=tuple(bindings.workflows or ()),
        kv_namespaces=tuple(bindings.kv_namespaces or ()),
        d1_databases=tuple(bindings.d1_databases or ()),
        r2_buckets=tuple(bindings.r2_buckets or ()),
        unsupported=tuple(unsupported),
        warnings=tuple(diag.warnings),
        environment=env,
        crons=crons or (),
    )


def _string_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _select_env(source: Source, data: dict[str, Any], env: str | None) -> dict[str, Any] | None:
    """The raw ``env.<env>`` table (None without ``env``); ConfigError when it does not exist."""
    sections = data.get("env")
    if sections is not None and not isinstance(sections, dict):
        raise ConfigError(
            f"{source.prefix(('env',))}must be an object of named environments but got "
            f'{describe_value(sections)}; write "env": {{"staging": {{...}}}}'
        )
    if env is None:
        return None
    if not sections or env not in sections:
        if sections:
            listed = ", ".join(f'"{name}"' for name in sections)
            available = f"the available environments are: {listed}"
        else:
            available = 'this config defines no named environments (no "env" section)'
        raise ConfigError(
            f'{source.display}: no environment named "{env}"; {available}; pass one of those as env=, '
            f'or add an "env.{env}" section to the config'
        )
    section = sections[env]
    if not isinstance(section, dict):
        raise ConfigError(
            f"{source.prefix(('env', env))}must be an object but got {describe_value(section)}; "
            f'write "env": {{"{env}": {{...}}}}'
        )
    return section


def _read_section(
    diag: Diagnostics, raw: dict[str, Any], base: KeyPath, own_names: set[str], *, top_level: bool
) -> _Section:
    where = "at the top level" if top_level else f"in env.{base[-1]}"
    for key in raw:
        if (
            key not in INHERITABLE
            and key not in NON_INHERITABLE
            and not (top_level and key in TOP_LEVEL_ONLY)
        ):
            diag.warn(
                base + (key,),
                f'unexpected field "{key}" {where}; wrangler ignores it with a warning, and so does the emulator',
            )
    return _Section(
        key=base,
        raw=raw,
        name=_read_name(diag, raw, base),
        main=_read_main(diag, raw, base),
        compatibility_date=_read_date(diag, raw, base),
        compatibility_flags=_read_flags(diag, raw, base),
        vars=_read_vars(diag, raw, base),
        bindings=read_bindings(diag, raw, base, own_names),
        crons=_read_triggers(diag, raw, base),
    )


def _read_triggers(diag: Diagnostics, raw: dict[str, Any], base: KeyPath) -> tuple[str, ...] | None:
    """``triggers.crons`` (each a Cloudflare cron expression), () when there are none."""
    if "triggers" not in raw:
        return None
    triggers = raw["triggers"]
    key = base + ("triggers",)
    if not isinstance(triggers, dict):
        diag.error(key, f"must be an object but got {describe_value(triggers)}", 'write "triggers": {"crons": ["0 * * * *"]}')
        return None
    crons = triggers.get("crons", [])
    if isinstance(crons, list) and not crons:
        return ()
    if not isinstance(crons, list):
        diag.error(key + ("crons",), f"must be an array of cron strings but got {describe_value(crons)}",
                   'write "crons": ["0 * * * *"]')
        return None
    return read_crons(diag, crons, key + ("crons",))


def _read_name(diag: Diagnostics, raw: dict[str, Any], base: KeyPath) -> str | None:
    if "name" not in raw:
        return None
    value = raw["name"]
    if not isinstance(value, str) or (value and not _WORKER_NAME.fullmatch(value)):
        diag.error(
            base + ("name",),
            f"the Worker name must be a string of lowercase letters, digits, '-' and '_' "
            f"(wrangler's rule) but got {describe_value(value)}",
            'write e.g. "name": "my-worker"',
        )
        return None
    return value or None


def _read_main(diag: Diagnostics, raw: dict[str, Any], base: KeyPath) -> str | None:
    if "main" not in raw:
        return None
    value = raw["main"]
    if not isinstance(value, str) or not value:
        diag.error(
            base + ("main",),
            f"must be a path string but got {describe_value(value)}",
            'write "main": "src/entry.py"',
        )
        return None
    if not value.endswith(".py"):
        diag.error(
            base + ("main",),
            f"main {describe_value(value)} is not a Python module; the emulator runs Python Workflows",
            'point "main" at the .py file that defines your WorkflowEntrypoint classes',
        )
        return None
    return value


def _read_date(diag: Diagnostics, raw: dict[str, Any], base: KeyPath) -> str | None:
    if "compatibility_date" not in raw:
        return None
    value = raw["compatibility_date"]
    key = base + ("compatibility_date",)
    if isinstance(value, (datetime.date, datetime.datetime)):
        diag.error(
            key,
            f"must be a string but got {describe_value(value)}",
            f'quote it: compatibility_date = "{value.isoformat()[:10]}"',
        )
        return None
    if not isinstance(value, str):
        diag.error(
            key,
            f"must be a string but got {describe_value(value)}",
            'write "compatibility_date": "2025-01-01"',
        )
        return None
    if "\u2013" in value or "\u2014" in value:
        diag.error(
            key,
            "should use ISO-8601 hyphens (-) rather than en-dashes (\u2013) or em-dashes (\u2014)",
            f"write {describe_value(value.replace(chr(0x2013), '-').replace(chr(0x2014), '-'))}",
        )
        return None
    if not _DATE.fullmatch(value):
        diag.error(
            key,
            f"should be a date in the form YYYY-MM-DD but got {describe_value(value)}",
            'write e.g. "2025-01-01"',
        )
        return None
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        diag.error(
            key,
            f"{describe_value(value)} is not a real calendar date",
            "write an existing date in the form YYYY-MM-DD",
        )
        return None
    return value


def _read_flags(diag: Diagnostics, raw: dict[str, Any], base: KeyPath) -> list[str] | None:
    if "compatibility_flags" not in raw:
        return None
    value = raw["compatibility_flags"]
    key = base + ("compatibility_flags",)
    if not isinstance(value, list):
        diag.error(
            key,
            f"must be an array of strings but got {describe_value(value)}",
            'write e.g. ["python_workers"]',
        )
        return None
    for index, flag in enumerate(value):
        if not isinstance(flag, str):
            diag.error(
                key + (index,), f"must be a string but got {describe_value(flag)}", "quote the flag name"
            )
            return None
    return list(value)


def _read_vars(diag: Diagnostics, raw: dict[str, Any], base: KeyPath) -> dict[str, Any] | None:
    if "vars" not in raw:
        return None
    value = raw["vars"]
    key = base + ("vars",)
    if not isinstance(value, dict):
        diag.error(
            key,
            f"must be an object of names to values but got {describe_value(value)}",
            'write "vars": {"NAME": "value"}',
        )
        return None
    for name, item in value.items():
        bad = _non_json(item, key + (name,))
        if bad is not None:
            diag.error(
                bad[0],
                f"{describe_value(bad[1])} is not a JSON value",
                "use a string (quote it), number, boolean, array or object",
            )
            return None
    return dict(value)


def _non_json(value: Any, key: KeyPath) -> tuple[KeyPath, Any] | None:
    """The first part of ``value`` JSON cannot represent (a TOML date or time), if any."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _non_json(item, key + (index,))
            if found is not None:
                return found
        return None
    if isinstance(value, dict):
        for name, item in value.items():
            found = _non_json(item, key + (name,))
            if found is not None:
                return found
        return None
    return key, value


def _check_unique_bindings(diag: Diagnostics, names: list[BindingName]) -> None:
    first: dict[str, BindingName] = {}
    for entry in names:
        earlier = first.get(entry.name)
        if earlier is None:
            first[entry.name] = entry
            continue
        diag.error(
            entry.key,
            f'binding name "{entry.name}" is already used by {format_key_path(earlier.key)} ({earlier.kind})',
            "binding names must be unique across vars, workflows and all other bindings; rename one",
        )
