"""Reading wrangler configs (``wrangler.json``, ``wrangler.jsonc``, ``wrangler.toml``).

``load_config()`` finds, parses and validates a config the way wrangler would, and returns a
:class:`ProjectConfig` with the Workflows, bindings and vars the emulator needs::

    from cfwf_emulator.config import load_config

    project = load_config("wrangler.jsonc", env="staging")
    for wf in project.workflows:
        print(wf.binding, wf.name, wf.class_name, wf.step_limit)

Every problem raises :class:`~cfwf_emulator.errors.ConfigError` with the file, the line, what is
wrong and how to fix it. JSONC is read strictly (what wrangler accepts, not json5's superset).
"""

from __future__ import annotations

from .jsonc import parse_jsonc
from .project import (
    D1Config,
    KVConfig,
    ProjectConfig,
    R2Config,
    UnsupportedBindingConfig,
    WorkflowConfig,
)
from .wrangler import find_config, load_config

__all__ = [
    "D1Config",
    "KVConfig",
    "ProjectConfig",
    "R2Config",
    "UnsupportedBindingConfig",
    "WorkflowConfig",
    "find_config",
    "load_config",
    "parse_jsonc",
]
