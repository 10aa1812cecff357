"""The dev server under load: 200 concurrent clients create and poll 2,000 instances over loopback
through the Local Explorer API (``benchmarks.server_load``), with no failed request and no lost
instance. Nothing here is timed: the figures are the benchmark's (README, "Offline development").
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from benchmarks.server_load import CLIENTS, PER_CLIENT, cfwf_dev, run_load


def test_200_clients_create_and_poll_2000_instances_without_a_failure_or_a_loss(tmp_path: Path) -> None:
    assert (CLIENTS, PER_CLIENT) == (200, 10)
    with cfwf_dev(tmp_path) as url:
        result = asyncio.run(run_load(url, "cfwf dev", deadline_s=300))
    assert result.examples == []
    assert (result.failed_requests, result.lost_instances) == (0, 0)
    assert result.instances == 2_000
    assert result.requests >= 4_000  # a create and at least one poll per instance
    log = (tmp_path / "cfwf-dev.log").read_text()
    assert log.count(": running -> complete") == 2_000
