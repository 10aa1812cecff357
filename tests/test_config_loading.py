"""Loading wrangler configs: discovery, JSONC/TOML parsing, environments and error messages."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from cfwf_emulator.config import (
    D1Config,
    KVConfig,
    ProjectConfig,
    R2Config,
    UnsupportedBindingConfig,
    WorkflowConfig,
    find_config,
    load_config,
    parse_jsonc,
)
from cfwf_emulator.errors import ConfigError

NAME_RULE = (
    "Workflow names must be 1-64 characters long, start with a letter, number, or underscore, "
    "and may only contain letters, numbers, underscores, or hyphens."
)


def _project(tmp_path: Path, name: str, text: str | bytes) -> Path:
    """Write a config called ``name`` (and an empty ``src/entry.py``) into ``tmp_path``."""
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "entry.py").write_text("")
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# -- discovery ---------------------------------------------------------------------------


def test_discovery_prefers_json_then_jsonc_then_toml(tmp_path: Path) -> None:
    for name in ("wrangler.toml", "wrangler.jsonc", "wrangler.json"):
        (tmp_path / name).write_text("{}" if name != "wrangler.toml" else "")
    assert find_config(tmp_path) == (tmp_path / "wrangler.json").resolve()
    (tmp_path / "wrangler.json").unlink()
    assert find_config(tmp_path) == (tmp_path / "wrangler.jsonc").resolve()
    (tmp_path / "wrangler.jsonc").unlink()
    assert find_config(str(tmp_path)) == (tmp_path / "wrangler.toml").resolve()


def test_discovery_searches_upward_and_nearest_directory_wins(tmp_path: Path) -> None:
    (tmp_path / "wrangler.json").write_text("{}")
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_config(deep) == (tmp_path / "wrangler.json").resolve()
    (tmp_path / "a" / "wrangler.toml").write_text("")
    assert find_config(deep) == (tmp_path / "a" / "wrangler.toml").resolve()
    # A file as the start point searches from its directory.
    (deep / "x.py").write_text("")
    assert find_config(deep / "x.py") == (tmp_path / "a" / "wrangler.toml").resolve()


def test_discovery_defaults_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, "wrangler.jsonc", '{"name": "w"}')
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert find_config() == (tmp_path / "wrangler.jsonc").resolve()
    project = load_config()
    assert project.name == "w"
    assert project.path == (tmp_path / "wrangler.jsonc").resolve()
    assert project.root == tmp_path.resolve()


def test_discovery_failure_names_start_and_file_names(tmp_path: Path) -> None:
    empty = tmp_path / "nothing" / "here"
    empty.mkdir(parents=True)
    if any(
        (parent / n).exists()
        for parent in empty.parents
        for n in ("wrangler.json", "wrangler.jsonc", "wrangler.toml")
    ):
        pytest.fail("a wrangler config exists above the pytest tmp directory")
    with pytest.raises(ConfigError) as info:
        find_config(empty)
    message = str(info.value)
    assert str(empty.resolve()) in message
    for name in ("wrangler.json", "wrangler.jsonc", "wrangler.toml"):
        assert name in message


def test_load_config_directory_does_not_walk_up(tmp_path: Path) -> None:
    _project(tmp_path, "wrangler.json", '{"name": "top"}')
    sub = tmp_path / "sub"
    sub.mkdir()
    assert load_config(tmp_path).name == "top"
    with pytest.raises(ConfigError, match="no wrangler config in"):
        load_config(sub)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.jsonc")


# -- loading ------------------------------------------------------------------------------

FULL_JSONC = """\ufeff// A commented wrangler.jsonc
{
  "$schema": "node_modules/wrangler/config-schema.json",
  "name": "orders", /* the Worker */
  "main": "src/entry.py",
  "compatibility_date": "2025-10-01",
  "compatibility_flags": ["python_workers",],
  "vars": {"GREETING": "hello // not a comment", "RETRIES": 3, "CFG": {"a": [1, 2.5, null]},},
  "workflows": [
    {"name": "order-workflow", "binding": "ORDERS", "class_name": "OrderWorkflow", "limits": {"steps": 500}},
    {"name": "ship_1", "binding": "SHIP", "class_name": "ShipWorkflow",},
  ],
  "kv_namespaces": [{"binding": "CACHE", "id": "abc123", "preview_id": "def"}],
  "d1_databases": [{"binding": "DB", "database_name": "orders-db", "database_id": "d1-id", "migrations_dir": "m"}],
  "r2_buckets": [{"binding": "FILES", "bucket_name": "files"}],
  "services": [{"binding": "AUTH", "service": "auth-worker"}],
  "queues": {"producers": [{"binding": "JOBS", "queue": "jobs"}]},
  "durable_objects": {"bindings": [{"name": "ROOMS", "class_name": "Room"}]},
  "ai": {"binding": "AI"},
  "send_email": [{"name": "MAILER"}],
  "observability": {"enabled": true},
  "mystery": 1,
}
"""


def test_jsonc_with_comments_trailing_commas_and_bom_loads(tmp_path: Path) -> None:
    path = _project(tmp_path, "wrangler.jsonc", FULL_JSONC)
    project = load_config(path)
    assert isinstance(project, ProjectConfig)
    assert project.name == "orders"
    assert project.main == (tmp_path / "src" / "entry.py").resolve()
    assert project.compatibility_date == "2025-10-01"
    assert project.compatibility_flags == ("python_workers",)
    assert project.vars == {
        "GREETING": "hello // not a comment",
        "RETRIES": 3,
        "CFG": {"a": [1, 2.5, None]},
    }
    assert project.workflows == (
        WorkflowConfig(
            name="order-workflow", binding="ORDERS", class_name="OrderWorkflow", step_limit=500
        ),
        WorkflowConfig(name="ship_1", binding="SHIP", class_name="ShipWorkflow", step_limit=None),
    )
    assert project.kv_namespaces == (KVConfig(binding="CACHE", id="abc123"),)
    assert project.d1_databases == (
        D1Config(binding="DB", database_name="orders-db", database_id="d1-id"),
    )
    assert project.r2_buckets == (R2Config(binding="FILES", bucket_name="files"),)
    assert set(project.unsupported) == {
        UnsupportedBindingConfig(binding="AUTH", kind="services"),
        UnsupportedBindingConfig(binding="JOBS", kind="queues.producers"),
        UnsupportedBindingConfig(binding="ROOMS", kind="durable_objects"),
        UnsupportedBindingConfig(binding="AI", kind="ai"),
        UnsupportedBindingConfig(binding="MAILER", kind="send_email"),
    }
    assert project.environment is None
    assert len(project.warnings) == 1
    assert "mystery" in project.warnings[0] and ":22:3:" in project.warnings[0]


def test_parse_jsonc_accepts_wrangler_jsonc() -> None:
    text = '\ufeff{\n  // c\n  "a": [1, 2,], /* x */ "b": {"c": "/* not a comment */",},\n}'
    assert parse_jsonc(text) == {"a": [1, 2], "b": {"c": "/* not a comment */"}}
    assert parse_jsonc('"\\u00e9\\n"') == "\u00e9\n"
    assert parse_jsonc("[-0.5e3, 0, 10]") == [-500.0, 0, 10]


def test_toml_loads(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        "wrangler.toml",
        """\
name = "orders"
main = "src/entry.py"
compatibility_date = "2025-10-01"
compatibility_flags = ["python_workers"]

[vars]
GREETING = "hi"

[[workflows]]
name = "order-workflow"
binding = "ORDERS"
class_name = "OrderWorkflow"
limits.steps = 30000

[[kv_namespaces]]
binding = "CACHE"
id = "abc"
""",
    )
    project = load_config(path)
    assert project.name == "orders"
    assert project.vars == {"GREETING": "hi"}
    assert project.workflows == (
        WorkflowConfig(
            name="order-workflow", binding="ORDERS", class_name="OrderWorkflow", step_limit=30000
        ),
    )
    assert project.kv_namespaces == (KVConfig(binding="CACHE", id="abc"),)
    assert len(project.warnings) == 1
    assert "exceeds the production maximum of 25,000" in project.warnings[0]
    assert "wrangler.toml:13:" in project.warnings[0]


ENV_JSONC = """{
  "name": "orders",
  "main": "src/entry.py",
  "compatibility_date": "2025-10-01",
  "compatibility_flags": ["python_workers"],
  "vars": {"STAGE": "prod"},
  "kv_namespaces": [{"binding": "CACHE"}],
  "workflows": [{"name": "wf", "binding": "WF", "class_name": "Wf"}],
  "env": {
    "staging": {
      "compatibility_date": "2025-11-01",
      "vars": {"STAGE": "staging"},
      "workflows": [{"name": "wf-staging", "binding": "WF", "class_name": "Wf", "limits": {"steps": 5}}]
    },
    "dev": {"name": "orders-dev-custom", "main": "src/other.py", "compatibility_flags": ["python_workers", "nodejs_compat"]}
  }
}
"""


def test_env_overrides_and_inheritance(tmp_path: Path) -> None:
    path = _project(tmp_path, "wrangler.jsonc", ENV_JSONC)
    (tmp_path / "src" / "other.py").write_text("")
    top = load_config(path)
    assert top.environment is None and top.name == "orders" and top.vars == {"STAGE": "prod"}
    assert top.warnings == ()

    staging = load_config(path, env="staging")
    assert staging.environment == "staging"
    assert staging.name == "orders-staging"  # inherited name gets "-<env>", as in wrangler
    assert staging.main == (tmp_path / "src" / "entry.py").resolve()  # inherited
    assert staging.compatibility_date == "2025-11-01"  # overridden
    assert staging.compatibility_flags == ("python_workers",)  # inherited
    assert staging.vars == {"STAGE": "staging"}
    assert staging.workflows == (WorkflowConfig("wf-staging", "WF", "Wf", 5),)
    assert staging.kv_namespaces == ()  # not inherited ...
    assert any(
        '"kv_namespaces" exists at the top level, but not on "env.staging"' in w
        for w in staging.warnings
    )

    dev = load_config(path, env="dev")
    assert dev.name == "orders-dev-custom"
    assert dev.main == (tmp_path / "src" / "other.py").resolve()
    assert dev.compatibility_flags == ("python_workers", "nodejs_compat")
    assert dev.compatibility_date == "2025-10-01"
    assert dev.vars == {} and dev.workflows == ()
    assert {w.split('"')[1] for w in dev.warnings} == {"vars", "kv_namespaces", "workflows"}


def test_unknown_env_lists_available(tmp_path: Path) -> None:
    path = _project(tmp_path, "wrangler.jsonc", ENV_JSONC)
    with pytest.raises(ConfigError) as info:
        load_config(path, env="prod")
    assert 'no environment named "prod"' in str(info.value)
    assert '"staging", "dev"' in str(info.value)
    bare_dir = tmp_path / "bare"
    bare_dir.mkdir()
    bare = _project(bare_dir, "wrangler.json", "{}")
    with pytest.raises(ConfigError, match="defines no named environments"):
        load_config(bare, env="prod")


def test_loading_is_fast(tmp_path: Path) -> None:
    path = _project(tmp_path, "wrangler.jsonc", FULL_JSONC)
    load_config(path)
    started = time.perf_counter()
    for _ in range(10):
        load_config(path)
    assert (time.perf_counter() - started) / 10 < 0.05


def test_json5_is_not_imported_at_import_time() -> None:
    import subprocess
    import sys

    code = "import sys, cfwf_emulator, cfwf_emulator.config; print('json5' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=os.getcwd()
    )
    assert out.stdout.strip() == "False"


# -- malformed and unsupported configs ---------------------------------------------------------

_WF = '{"name": "wf", "binding": "WF", "class_name": "Wf"}'

BAD_CONFIGS: list[tuple[str, str, str, str, int | None]] = [
    # (id, file name, content, expected fragment, expected line)
    (
        "unquoted-key",
        "wrangler.jsonc",
        '{\n  "name": "w",\n\n  main: "src/entry.py"\n}',
        "wrangler.jsonc:4:3: unquoted key 'main': wrangler requires JSON keys in double quotes; write \"main\"",
        4,
    ),
    ("single-quotes", "wrangler.jsonc", "{\n  \"name\": 'w'\n}", "single-quoted string 'w'", 2),
    ("nan", "wrangler.jsonc", '{\n  "vars": {"X": NaN}\n}', "NaN is not valid JSON", 2),
    (
        "infinity",
        "wrangler.json",
        '{\n  "vars": {\n    "X": -Infinity\n  }\n}',
        "-Infinity is not valid JSON",
        3,
    ),
    (
        "hex",
        "wrangler.jsonc",
        '{"vars": {"X": 0x10}}',
        "hexadecimal number '0x10' is not valid JSON; write it in decimal: 16",
        1,
    ),
    ("leading-plus", "wrangler.jsonc", '{\n"vars": {"X": +1}}', "number '+1' has a leading '+'", 2),
    ("leading-dot", "wrangler.jsonc", '{"vars": {"X": .5}}', "write 0.5", 1),
    ("trailing-dot", "wrangler.jsonc", '{"vars": {"X": 5.}}', "no digit after the decimal point", 1),
    (
        "line-continuation",
        "wrangler.jsonc",
        '{\n  "name": "a\\\nb"\n}',
        "backslash at the end of a line",
        2,
    ),
    (
        "duplicate-key",
        "wrangler.jsonc",
        '{\n  "name": "a",\n  "name": "b"\n}',
        'duplicate key "name" (first defined at line 2)',
        3,
    ),
    (
        "duplicate-nested-key",
        "wrangler.jsonc",
        '{\n  "workflows": [\n    {"name": "a", "binding": "A",\n     "binding": "B", "class_name": "C"}\n  ]\n}',
        'duplicate key "binding"',
        4,
    ),
    (
        "missing-comma",
        "wrangler.jsonc",
        '{\n  "name": "a"\n  "main": "src/entry.py"\n}',
        'expected "," or "}"',
        3,
    ),
    (
        "unterminated-comment",
        "wrangler.jsonc",
        '{\n  /* oops\n  "name": "a"\n}',
        "unterminated /* comment",
        2,
    ),
    ("utf16", "wrangler.json", "", "UTF-16 LE", 1),
    ("toml-syntax", "wrangler.toml", 'name = "a"\nmain = \n', "TOML syntax error", 2),
    ("top-level-array", "wrangler.json", "[1, 2]", "the top level must be an object", 1),
    ("main-missing-file", "wrangler.jsonc", '{\n  "main": "src/nope.py"\n}', "does not exist", 2),
    ("main-not-python", "wrangler.jsonc", '{\n  "main": "src/index.ts"\n}', "is not a Python module", 2),
    ("main-wrong-type", "wrangler.jsonc", '{"main": 3}', "must be a path string but got 3", 1),
    ("date-format", "wrangler.jsonc", '{\n  "compatibility_date": "2025-1-5"\n}', "YYYY-MM-DD", 2),
    (
        "date-not-real",
        "wrangler.jsonc",
        '{\n  "compatibility_date": "2025-02-30"\n}',
        "is not a real calendar date",
        2,
    ),
    (
        "date-toml-unquoted",
        "wrangler.toml",
        'name = "a"\ncompatibility_date = 2025-01-01\n',
        'quote it: compatibility_date = "2025-01-01"',
        2,
    ),
    (
        "flags-not-strings",
        "wrangler.jsonc",
        '{\n  "compatibility_flags": ["a", 1]\n}',
        "compatibility_flags[1]: must be a string",
        2,
    ),
    ("vars-not-object", "wrangler.jsonc", '{\n  "vars": ["A"]\n}', "vars: must be an object", 2),
    (
        "workflows-not-list",
        "wrangler.jsonc",
        '{\n  "workflows": ' + _WF + "\n}",
        "must be an array of workflow objects",
        2,
    ),
    (
        "workflow-name-invalid",
        "wrangler.jsonc",
        '{\n  "workflows": [\n    '
        + _WF
        + ',\n    {"name": "bad name", "binding": "B", "class_name": "C"}\n  ]\n}',
        'workflows[1].name: invalid workflow name "bad name". ' + NAME_RULE,
        4,
    ),
    (
        "workflow-name-too-long",
        "wrangler.jsonc",
        '{"workflows": [{"name": "' + "x" * 65 + '", "binding": "B", "class_name": "C"}]}',
        NAME_RULE,
        1,
    ),
    (
        "workflow-missing-name",
        "wrangler.jsonc",
        '{\n  "workflows": [\n    {"binding": "B", "class_name": "C"}\n  ]\n}',
        'workflows[0]: is missing the required string field "name"',
        3,
    ),
    (
        "workflow-binding-not-identifier",
        "wrangler.jsonc",
        '{\n  "workflows": [\n    {"name": "a", "binding": "MY-WF", "class_name": "C"}\n  ]\n}',
        "is not a valid Python identifier",
        3,
    ),
    (
        "workflow-class-wrong-type",
        "wrangler.jsonc",
        '{"workflows": [{"name": "a", "binding": "A", "class_name": 7}]}',
        "class_name: must be a string but got 7",
        1,
    ),
    (
        "steps-zero",
        "wrangler.jsonc",
        '{\n  "workflows": [\n    {"name": "a", "binding": "A", "class_name": "C",\n     "limits": {"steps": 0}}\n  ]\n}',
        '"limits.steps" field must be a positive integer but got 0',
        4,
    ),
    (
        "steps-string",
        "wrangler.jsonc",
        '{"workflows": [{"name": "a", "binding": "A", "class_name": "C", "limits": {"steps": "100"}}]}',
        '"limits.steps" field must be a positive integer but got "100"',
        1,
    ),
    (
        "steps-bool",
        "wrangler.jsonc",
        '{"workflows": [{"name": "a", "binding": "A", "class_name": "C", "limits": {"steps": true}}]}',
        "positive integer but got true",
        1,
    ),
    (
        "limits-unknown-key",
        "wrangler.jsonc",
        '{"workflows": [{"name": "a", "binding": "A", "class_name": "C", "limits": {"cpu_ms": 5}}]}',
        'unknown field "cpu_ms" in limits',
        1,
    ),
    (
        "workflow-unknown-key",
        "wrangler.jsonc",
        '{\n  "workflows": [\n    {"name": "a", "binding": "A", "class_name": "C", "retries": 3}\n  ]\n}',
        'workflows[0].retries: unknown field "retries" in a workflow binding',
        3,
    ),
    (
        "script-name",
        "wrangler.jsonc",
        '{\n  "name": "me",\n  "workflows": [\n    {"name": "a", "binding": "A", "class_name": "C",\n'
        '     "script_name": "other-worker"}\n  ]\n}',
        "cross-script workflow bindings are not supported by the emulator",
        5,
    ),
    (
        "duplicate-workflow-name",
        "wrangler.jsonc",
        '{\n  "workflows": [\n    {"name": "a", "binding": "A", "class_name": "C"},\n'
        '    {"name": "a", "binding": "B", "class_name": "C"}\n  ]\n}',
        'duplicate workflow name "a" (also used by workflows[0])',
        4,
    ),
    (
        "duplicate-binding-across-kinds",
        "wrangler.jsonc",
        '{\n  "workflows": [' + _WF + '],\n  "kv_namespaces": [\n    {"binding": "WF"}\n  ]\n}',
        'binding name "WF" is already used by workflows[0].binding',
        4,
    ),
    (
        "binding-duplicates-var",
        "wrangler.jsonc",
        '{\n  "vars": {"WF": "x"},\n  "workflows": [\n    ' + _WF + "\n  ]\n}",
        'binding name "WF" is already used by vars.WF',
        4,
    ),
    (
        "unsupported-binding-wrong-shape",
        "wrangler.jsonc",
        '{\n  "services": {"binding": "S"}\n}',
        "services: must be an array of binding objects",
        2,
    ),
    (
        "d1-wrong-type",
        "wrangler.jsonc",
        '{\n  "d1_databases": [\n    {"binding": "DB", "database_id": 5}\n  ]\n}',
        "d1_databases[0].database_id: must be a string but got 5",
        3,
    ),
    (
        "env-not-object",
        "wrangler.jsonc",
        '{\n  "env": []\n}',
        "env: must be an object of named environments",
        2,
    ),
    ("worker-name-uppercase", "wrangler.jsonc", '{\n  "name": "My Worker"\n}', "lowercase letters", 2),
    (
        "toml-workflow-name",
        "wrangler.toml",
        '[[workflows]]\nname = "a"\nbinding = "A"\nclass_name = "C"\n\n[[workflows]]\nname = "b.c"\nbinding = "B"\nclass_name = "C"\n',
        "workflows[1].name: invalid workflow name",
        7,
    ),
    (
        "toml-steps",
        "wrangler.toml",
        '[[workflows]]\nname = "a"\nbinding = "A"\nclass_name = "C"\n\n[workflows.limits]\nsteps = -1\n',
        '"limits.steps" field must be a positive integer but got -1',
        7,
    ),
]


@pytest.mark.parametrize(
    ("file_name", "content", "fragment", "line"),
    [case[1:] for case in BAD_CONFIGS],
    ids=[case[0] for case in BAD_CONFIGS],
)
def test_bad_configs(
    tmp_path: Path, file_name: str, content: str, fragment: str, line: int | None
) -> None:
    data: str | bytes = content
    if file_name == "wrangler.json" and not content:
        data = "\ufeff{}".encode("utf-16-le")  # starts with FF FE: a UTF-16 LE byte order mark
    path = _project(tmp_path, file_name, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert fragment in message
    assert file_name in message
    if line is not None:
        assert re.search(rf"{re.escape(file_name)}:{line}(:|\b)", message), message


def test_many_errors_are_reported_together(tmp_path: Path) -> None:
    path = _project(tmp_path, "wrangler.jsonc", '{\n  "main": 1,\n  "compatibility_date": "x"\n}')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "2 configuration errors" in message
    assert (
        "wrangler.jsonc:2:3: main:" in message and "wrangler.jsonc:3:3: compatibility_date:" in message
    )


def test_script_name_of_this_worker_is_allowed(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        "wrangler.jsonc",
        '{"name": "me", "workflows": [{"name": "a", "binding": "A", "class_name": "C", "script_name": "me"}]}',
    )
    assert load_config(path).workflows == (WorkflowConfig("a", "A", "C", None),)
