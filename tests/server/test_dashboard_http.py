"""The dashboard's files and our ``/cfwf/`` API extensions (clock controls, cron triggers), over HTTP.

The page itself is exercised in Chromium by ``test_dashboard_browser.py``; here: what each route
answers, that no request path reaches the filesystem, and that the guard covers the dashboard.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cfwf_emulator import Emulator, VirtualClock
from cfwf_emulator.server.ui import ASSETS

ROOT = "/cdn-cgi/local/explorer"
W = "/workflows/demo-workflow"
START_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z, where the emulator fixture's clock starts


async def test_the_dashboard_page_is_served_for_every_page_path_with_a_strict_policy(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        for path in (ROOT, ROOT + "/", ROOT + "/workflows/demo-workflow", ROOT + "/workflows/demo-workflow/some-id"):
            response = await api.client.get(api.url + path)
            assert response.status_code == 200, path
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert "<title>cfwf dev: Workflows explorer</title>" in response.text
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "default-src 'none'" in policy and "unsafe-inline" not in policy
            assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_assets_are_a_fixed_set_and_nothing_else_is_read(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        for name in ("app.js", "dom.js", "timeline.js"):
            script = await api.client.get(api.url + ROOT + "/assets/" + name)
            assert script.status_code == 200 and script.headers["content-type"] == "text/javascript; charset=utf-8"
            assert "innerHTML" not in script.text and "insertAdjacentHTML" not in script.text  # text only
        style = await api.client.get(api.url + ROOT + "/assets/style.css")
        assert style.status_code == 200 and style.headers["content-type"] == "text/css; charset=utf-8"
        for name in ("ui.py", "..%2Fui.py", "%2e%2e%2f%2e%2e%2fapp.py", "", "dashboard/app.js"):
            response = await api.client.get(api.url + ROOT + "/assets/" + name)
            assert (response.status_code, response.text) == (404, "404 Not Found"), name


async def test_every_file_the_page_loads_is_served_and_shipped(emulator: Emulator, served: Any) -> None:
    folder = Path(__file__).resolve().parents[2] / "cfwf_emulator" / "server" / "dashboard"
    assert sorted(path.name for path in folder.iterdir()) == sorted(ASSETS)
    async with served(emulator) as api:
        page = (await api.client.get(api.url + ROOT)).text
        wanted = re.findall(r'(?:src|href)="(/cdn-cgi/local/explorer/assets/[^"]+)"', page)
        for name in ("app.js", "timeline.js"):
            script = (await api.client.get(api.url + ROOT + "/assets/" + name)).text
            wanted += [ROOT + "/assets/" + module for module in re.findall(r'from "\./([^"]+)"', script)]
        assert {path.rsplit("/", 1)[1] for path in wanted} == set(ASSETS) - {"index.html"}
        for path in wanted:
            assert (await api.client.get(api.url + path)).status_code == 200, path


async def test_the_dashboard_answers_only_get_and_is_behind_the_host_guard(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        posted = await api.client.post(api.url + ROOT + "/workflows/demo-workflow")
        assert posted.status_code == 405 and "only answers GET" in posted.text
        rebound = await api.client.get(api.url + ROOT, headers={"Host": "evil.example"})
        assert (rebound.status_code, rebound.text) == (403, "Invalid Host header")
        cross_site = await api.client.get(api.url + ROOT, headers={"Origin": "https://evil.example"})
        assert (cross_site.status_code, cross_site.text) == (403, "Invalid Origin header")
        clock = await api.request("POST", "/cfwf/clock/run-until-idle", headers={"Origin": "https://evil.example"})
        assert clock.status_code == 403


async def test_the_clock_reads_and_advances_virtual_time_running_what_falls_due(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        assert await api.ok("GET", "/cfwf/clock") == {"kind": "virtual", "now": "2026-01-01T00:00:00.000Z", "autojump": False}
        await api.ok("POST", W + "/instances", json={"id": "napper", "params": {"sleep": "90 seconds"}})
        await emulator.settle()
        moved = await api.ok("POST", "/cfwf/clock/advance", json={"duration": "90 seconds"})
        assert moved["now"] == "2026-01-01T00:01:30.000Z"
        steps = (await api.ok("GET", W + "/instances/napper"))["steps"]
        assert [(step["name"], step.get("finished")) for step in steps] == [("flaky-1", None), ("nap-1", True), ("approval-1", False)]
        later = await api.ok("POST", "/cfwf/clock/advance", json={"duration": 60_000})
        assert later["now"] == "2026-01-01T00:02:30.000Z"


async def test_next_timer_jumps_to_the_earliest_deadline_and_says_when_there_is_none(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        assert (await api.ok("POST", "/cfwf/clock/next-timer"))["advanced"] is False
        await api.ok("POST", W + "/instances", json={"id": "retrying", "params": {"fail_times": 1}})
        await emulator.settle()
        jumped = await api.ok("POST", "/cfwf/clock/next-timer")
        assert (jumped["advanced"], jumped["now"]) == (True, "2026-01-01T00:00:01.000Z")  # the 1-second retry delay
        attempts = (await api.ok("GET", W + "/instances/retrying"))["steps"][0]["attempts"]
        assert [attempt["success"] for attempt in attempts] == [False, True]


async def test_run_until_idle_runs_through_every_timer(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        await api.ok("POST", W + "/instances", json={"id": "idle"})
        idle = await api.ok("POST", "/cfwf/clock/run-until-idle")
        assert idle["now"] == "2026-01-02T01:00:00.000Z"  # the hour's sleep, then the day's event timeout
        assert (await api.ok("GET", W + "/instances/idle"))["status"] == "errored"


async def test_bad_clock_requests_say_what_to_send(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        hint = 'Send {"duration": "1 hour"}: a Workflows duration ("90 seconds", "2 days") or milliseconds'
        await api.fails("POST", "/cfwf/clock/advance", 400, 10001, hint)
        await api.fails("POST", "/cfwf/clock/advance", 400, 10001, hint, json={"duration": True})
        await api.fails("POST", "/cfwf/clock/advance", 400, 10001, "Invalid JSON request body", content=b"{")
        response = await api.request("POST", "/cfwf/clock/advance", json={"duration": "soon"})
        assert response.status_code == 400 and response.json()["errors"][0]["message"].startswith("duration: ")
        negative = await api.request("POST", "/cfwf/clock/advance", json={"duration": -5})
        assert negative.status_code == 400 and "negative" in negative.json()["errors"][0]["message"]
        assert (await api.ok("GET", "/cfwf/clock"))["now"] == "2026-01-01T00:00:00.000Z"
        assert (await api.request("GET", "/cfwf/clock/advance")).status_code == 404


async def test_on_the_real_clock_the_controls_refuse_and_say_how_to_get_them(project: Path, served: Any) -> None:
    async with served(Emulator.from_config(project)) as api:
        clock = await api.ok("GET", "/cfwf/clock")
        assert clock["kind"] == "real" and clock["autojump"] is None
        message = (
            "this dev server runs on the real clock, which only moves by itself: "
            "start it with --clock virtual to advance time from here"
        )
        for path in ("/cfwf/clock/advance", "/cfwf/clock/next-timer", "/cfwf/clock/run-until-idle"):
            await api.fails("POST", path, 400, 10001, message, json={"duration": "1 hour"})


async def test_crons_are_listed_with_their_next_fire_time(project: Path, served: Any) -> None:
    root = project
    config = (root / "wrangler.jsonc").read_text()
    config = config.replace('"class_name": "DemoWorkflow"}', '"class_name": "DemoWorkflow", "schedules": ["0 9 * * MON"]}')
    (root / "wrangler.jsonc").write_text(config.replace('"kv_namespaces"', '"triggers": {"crons": ["*/15 * * * *"]},\n  "kv_namespaces"'))
    with (root / "src" / "entry.py").open("a") as entry:
        entry.write("\n\nasync def scheduled(self, controller, env, ctx):\n    pass\n\n\nDefault.scheduled = scheduled\n")
    emu = Emulator.from_config(root, clock=VirtualClock(START_MS + 60_000, autojump=False))
    async with served(emu) as api:
        response = await api.request("GET", "/cfwf/crons")
        assert response.json()["result"] == [
            {"cron": "*/15 * * * *", "workflow": None, "next": "2026-01-01T00:15:00.000Z"},
            {"cron": "0 9 * * MON", "workflow": "demo-workflow", "next": "2026-01-05T09:00:00.000Z"},
        ]
        assert response.json()["result_info"] == {"count": 2, "firing": False}


async def test_without_crons_the_list_is_empty(emulator: Emulator, served: Any) -> None:
    async with served(emulator) as api:
        response = await api.request("GET", "/cfwf/crons")
        assert response.json()["result"] == [] and response.json()["result_info"] == {"count": 0, "firing": False}
