"""The fixed differential scenarios (``python -m conformance.differential --scenarios``), checked
without node: the emulator side against LOCAL observations recorded from ``wrangler dev`` 4.164.0
(Node 22) running ``conformance/differential/worker.js``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conformance.differential.scenarios import SCENARIOS, differences, emulator_side

CANNOT_TERMINATE = "(instance.cannot_terminate) Cannot terminate instance since its on a finite state"
# GET /cdn-cgi/local/explorer/api/workflows/interp/instances/<id> of the ``DESCRIBED`` program, as
# describe_shape() reduces it
DESCRIBED_LOCAL: dict[str, Any] = {
    "keys": [
        "status",
        "params",
        "queued",
        "start",
        "end",
        "output",
        "error",
        "steps",
        "step_count"
    ],
    "status": "complete",
    "error": None,
    "step_count": 6,
    "steps": [
        {
            "keys": [
                "name",
                "start",
                "end",
                "success",
                "type",
                "output",
                "config",
                "attempts"
            ],
            "name": "flaky-1",
            "type": "step",
            "success": True,
            "config": {
                "retries": {
                    "limit": 1,
                    "backoff": "constant",
                    "delay": 100
                },
                "timeout": "10 minutes"
            },
            "error": None,
            "attempts": [
                {
                    "keys": [
                        "start",
                        "end",
                        "success",
                        "error"
                    ],
                    "success": False,
                    "error": {
                        "keys": [
                            "name",
                            "message"
                        ],
                        "name": "Error",
                        "message": "fail flaky 1"
                    }
                },
                {
                    "keys": [
                        "start",
                        "end",
                        "success",
                        "error"
                    ],
                    "success": True,
                    "error": None
                }
            ],
            "output": {
                "r": 1
            }
        },
        {
            "keys": [
                "name",
                "start",
                "end",
                "success",
                "type",
                "output",
                "config",
                "attempts"
            ],
            "name": "secret-1",
            "type": "step",
            "success": True,
            "config": {
                "retries": {
                    "limit": 0,
                    "backoff": "constant",
                    "delay": 100
                },
                "timeout": "10 minutes",
                "sensitive": "output"
            },
            "error": None,
            "attempts": [
                {
                    "keys": [
                        "start",
                        "end",
                        "success",
                        "error"
                    ],
                    "success": True,
                    "error": None
                }
            ],
            "output": "[REDACTED]"
        },
        {
            "keys": [
                "name",
                "start",
                "end",
                "success",
                "type",
                "config",
                "attempts"
            ],
            "name": "nothing-1",
            "type": "step",
            "success": True,
            "config": {
                "retries": {
                    "limit": 0,
                    "backoff": "constant",
                    "delay": 100
                },
                "timeout": "10 minutes"
            },
            "error": None,
            "attempts": [
                {
                    "keys": [
                        "start",
                        "end",
                        "success",
                        "error"
                    ],
                    "success": True,
                    "error": None
                }
            ],
            "output": "(absent)"
        },
        {
            "keys": [
                "name",
                "start",
                "end",
                "finished",
                "type",
                "error"
            ],
            "name": "nap-1",
            "type": "sleep",
            "finished": True,
            "error": None,
            "attempts": [],
            "output": "(absent)"
        },
        {
            "keys": [
                "name",
                "start",
                "end",
                "finished",
                "type",
                "error",
                "output"
            ],
            "name": "late-1",
            "type": "waitForEvent",
            "finished": True,
            "error": {
                "keys": [
                    "name",
                    "message"
                ],
                "name": "WorkflowTimeoutError"
            },
            "attempts": [],
            "output": None
        },
        {
            "keys": [
                "name",
                "start",
                "end",
                "finished",
                "type",
                "error",
                "output"
            ],
            "name": "ok-1",
            "type": "waitForEvent",
            "finished": True,
            "error": None,
            "attempts": [],
            "output": {
                "keys": [
                    "type",
                    "payload",
                    "timestamp"
                ],
                "type": "go",
                "payload": {
                    "ok": True
                }
            }
        }
    ]
}
RECORDED: dict[str, Any] = {
    "deleteBatch result": {
        "result": {
            "deleted": [{"id": "page-1"}, {"id": "page-2"}, {"id": "page-1"}],
            "errors": [{"id": "never-existed", "code": 10400, "message": "workflows.api.error.instance.not_found"}],
        },
        "page-2 after": "not_found",
    },
    "deleteBatch refusals": {
        "errors": [
            "(body) batchDeleteInstances should have at least 1 instance",
            "(body) batchDeleteInstances only supports 100 instances at a time",
            "(instance.invalid_id) Instance ID is invalid",
            "(body) Provided argument is invalid",
            "(body) Provided argument is invalid",
            "(instance.invalid_id) Instance ID is invalid",
            "(instance.invalid_id) Instance ID is invalid",
        ],
        "keep after": "complete",
    },
    "terminate with rollback": {
        "first": None, "status": "terminated", "again": CANNOT_TERMINATE, "on complete": CANNOT_TERMINATE,
    },
    "cron: scheduled() handler": {
        "fired": ["ok", "exception", "ok"],
        "instances": [
            {"status": "complete", "output": [{"cron": "0 * * * *", "scheduledTime": 1767229200000}]},
            {"status": "complete", "output": [{"cron": "*/15 * * * *", "scheduledTime": 1767230100000}]},
        ],
    },
    "describe() shape": DESCRIBED_LOCAL,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_emulator_agrees_with_the_recorded_local_engine(name: str) -> None:
    observed = asyncio.run(emulator_side(SCENARIOS[name][1]))
    assert differences(RECORDED[name], observed) == []


def test_differences_names_the_field_and_compares_errors_by_cloudflares_words() -> None:
    assert differences({"e": "(body) text"}, {"e": "(body) text, and what to do"}) == []
    assert differences({"a": [1, {"b": 2}]}, {"a": [1, {"b": 3}]}) == [".a[1].b: local 2 != emulator 3"]
    assert differences({"e": "(body) text"}, {"e": "(body) other"}) != []
