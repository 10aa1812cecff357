"""Property-based tests of the API against the OpenAPI document it serves (schemathesis, hypothesis).

Schemathesis generates requests for every operation of the document (valid and invalid path,
query and body values) and checks each answer: no server error, a status code the document
declares, the declared content type, and a body matching the declared schema.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from cfwf_emulator.server import openapi_document

from dev_project import write_project

schema = schemathesis.openapi.from_dict(openapi_document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A dev server process on a virtual clock, serving the demo project; its API root URL."""
    root = tmp_path_factory.mktemp("schema")
    project = write_project(root / "project")
    state = root / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "cfwf_emulator.server", "--config", str(project), "--port", "0",
         "--persist-to", str(state), "--clock", "virtual"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 30
    url = None
    while url is None and time.monotonic() < deadline and process.poll() is None:
        try:
            url = json.loads((state / "dev-server.json").read_text())["url"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    assert url is not None, process.stderr.read() if process.stderr else "no record"
    yield url + "/cdn-cgi/local/explorer/api"
    process.terminate()
    assert process.wait(timeout=30) == 0


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_document(case: Any, server: str) -> None:
    case.call_and_validate(base_url=server, checks=CHECKS)
    if "workflow_name" in (case.path_parameters or {}):
        case.path_parameters["workflow_name"] = "demo-workflow"  # the same request on a real workflow
        case.call_and_validate(base_url=server, checks=CHECKS)
