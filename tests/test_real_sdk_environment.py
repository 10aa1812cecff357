"""A real Python Workers project's own virtualenv: Cloudflare's SDK installed, the emulator still works.

Cloudflare's templates put ``workers-py`` and ``workers-runtime-sdk`` in every project's dev
dependencies, so the venv where a project's tests run has the real ``workers`` package (and the
``pyodide-py`` stubs), which can only run inside Pyodide (``import workers`` fails with
``No module named 'js'``). The dev extra installs both, so this suite runs in such a venv. Each
check runs in a fresh interpreter, because the substitution lives in ``sys.modules``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cfwf_emulator.runtime import NotEmulatedError
from cfwf_emulator.runtime.js import JSON, Object
from cfwf_emulator.runtime.pyodide_ffi import ConversionError, to_js

PROJECT = Path(__file__).parent / "projects" / "python-workers-venv"

# Hides Cloudflare's SDK and Pyodide's stubs, as in a venv without them.
HIDE_SDK = """
import sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("workers", "pyodide", "_pyodide", "js"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Hide())
"""

RUN_PROJECT = """
import asyncio, sys
from cfwf_emulator import Emulator

async def main():
    emu = Emulator.from_config(".", clock="virtual")
    async with emu:
        response = await emu.fetch("/", method="POST", json={"email": "Ada@Example.com"})
        instance = await emu.env.SIGNUP.get((await response.json())["id"])
        await emu.run_until_idle()
        print(await instance.status())
    import workers, js, pyodide.ffi
    print("stand-ins:", all(getattr(m, "__cfwf_stand_in__", False) for m in (workers, js, pyodide.ffi)))
    print("pyodide package:", "stand-in" if getattr(sys.modules["pyodide"], "__cfwf_stand_in__", False) else "installed stub")

asyncio.run(main())
"""


def run_python(code: str, *, cwd: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_test_environment_is_a_real_python_workers_venv() -> None:
    result = run_python("""
        import importlib.metadata, importlib.util
        print(importlib.metadata.version("workers-runtime-sdk"), importlib.metadata.version("workers-py"))
        print(importlib.util.find_spec("workers").origin)
        print(importlib.util.find_spec("pyodide").origin)
    """)
    assert result.returncode == 0, f"install the dev extra (pip install -e '.[dev]'): {result.stderr}"
    sdk_origin, pyodide_origin = result.stdout.splitlines()[1:]
    assert "site-packages" in sdk_origin and "cfwf_emulator" not in sdk_origin
    assert "site-packages" in pyodide_origin


def test_cloudflares_sdk_cannot_run_here_by_itself() -> None:
    """What users hit before: the real SDK imports ``js``, which only Pyodide has."""
    result = run_python("import workers")
    assert result.returncode != 0
    assert "No module named 'js'" in result.stderr


def test_importing_cfwf_emulator_alone_substitutes_nothing() -> None:
    result = run_python("import cfwf_emulator, cfwf_emulator.testing\nimport workers")
    assert "No module named 'js'" in result.stderr


def test_a_project_runs_unmodified_in_its_own_venv() -> None:
    result = run_python(RUN_PROJECT)
    assert result.returncode == 0, result.stderr
    status, stand_ins, package = result.stdout.splitlines()
    assert "'status': 'complete'" in status
    # to_js turned the tuple into an array, as Pyodide does, so the payload crossed as on Cloudflare
    assert "welcome mail sent to ada@example.com (pro)" in status
    assert stand_ins == "stand-ins: True"
    assert package == "pyodide package: installed stub"


def test_a_project_runs_in_a_venv_without_cloudflares_sdk() -> None:
    result = run_python(HIDE_SDK + RUN_PROJECT)
    assert result.returncode == 0, result.stderr
    status, stand_ins, package = result.stdout.splitlines()
    assert "'status': 'complete'" in status
    assert stand_ins == "stand-ins: True"
    assert package == "pyodide package: stand-in"


def test_the_projects_own_test_suite_passes_with_the_plugin() -> None:
    """Its test module imports the project (and so ``workers``) at collection time."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_a_module_the_user_provides_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "js.py").write_text("MINE = True\n")
    result = run_python(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from cfwf_emulator.runtime import install
        install()
        import js
        print(getattr(js, "MINE", False))
    """)
    assert result.stdout.strip() == "True", result.stderr


@pytest.mark.parametrize(
    ("statement", "name"),
    [
        ("from workers import Blob", "workers.Blob"),
        ("import workers; workers.fetch", "workers.fetch"),
        ("from js import fetch", "js.fetch"),
        ("from js import Object; Object.defineProperty", "js.Object.defineProperty"),
        ("from pyodide.ffi import JsBuffer", "pyodide.ffi.JsBuffer"),
    ],
)
def test_a_runtime_name_that_is_not_emulated_says_so(statement: str, name: str) -> None:
    result = run_python(f"""
        from cfwf_emulator.runtime import install
        install()
        try:
            {statement}
        except ImportError as exc:
            print(type(exc).__name__, exc)
    """)
    assert result.stdout.startswith(f"NotEmulatedError {name} is not emulated by cfwf-emulator"), result.stderr
    assert "Emulated names in" in result.stdout


def test_to_js_converts_as_pyodide_does() -> None:
    payload = {"plan": ("pro", "yearly"), "nested": {"n": 1}, 7: None}
    plain = to_js(payload, dict_converter=Object.fromEntries)
    assert plain == {"plan": ["pro", "yearly"], "nested": {"n": 1}, "7": None}
    assert plain.nested.n == 1 and plain is not payload
    as_map = to_js(payload)
    assert as_map == {"plan": ["pro", "yearly"], "nested": {"n": 1}, 7: None}
    assert to_js({"a": {"b": (1,)}}, depth=1) == {"a": {"b": (1,)}}
    with pytest.raises(ConversionError, match="object"):
        to_js([object()], create_pyproxies=False)


def test_js_globals() -> None:
    assert JSON.stringify({"a": [1, None]}) == '{"a":[1,null]}'
    assert JSON.parse('{"a": {"b": 2}}').a.b == 2
    assert Object.fromEntries([["x", 1], [True, 2]]) == {"x": 1, "true": 2}
    with pytest.raises(NotEmulatedError, match="js.JSON.rawJSON is not emulated"):
        JSON.rawJSON  # noqa: B018
