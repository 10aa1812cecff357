"""The dashboard in headless Chromium (Debian's ``chromium``, driven by Playwright's async API).

Playwright rather than Selenium: it waits for what a test expects by itself (no hand-written
waits, so no flakiness from timing), it runs in the test's own event loop beside the server, and
it drives the system browser through ``executable_path`` without a matching chromedriver.
Each test saves a screenshot of the page it checks under ``$CFWF_ARTIFACTS`` (default
``.ci/artifacts/``). The emulator's virtual clock moves only when the page (or the test) moves it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from cfwf_emulator import Emulator
from cfwf_emulator.server import serving

ROOT = "/cdn-cgi/local/explorer"
WORKFLOW = "demo-workflow"
ARTIFACTS = Path(os.environ.get("CFWF_ARTIFACTS") or Path(__file__).resolve().parents[2] / ".ci" / "artifacts")


def chromium_path() -> str:
    """The system Chromium; a clear failure when it is not installed."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("the browser tests need Debian's chromium: apt-get install -y chromium (.ci/run installs it)")
    return path


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


async def open_page(browser: Browser, url: str, width: int = 1280) -> tuple[Page, list[str]]:
    """A page of ``width`` CSS pixels showing ``url``, and the script errors it will report."""
    page = await browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    await page.goto(url)
    return page, errors


async def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``ARTIFACTS/name.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def test_the_list_shows_a_new_instance_without_a_reload(emulator: Emulator) -> None:
    async with emulator, serving(emulator) as (url, _), chromium() as browser:
        page, errors = await open_page(browser, url + ROOT)
        await expect(page.locator("#home-workflows .workflow")).to_have_count(2)
        await screenshot(page, "dashboard-home")
        await page.get_by_role("link", name=WORKFLOW).first.click()
        await expect(page.locator("#wf-showing")).to_have_text("Showing 0-0 of 0")
        await page.evaluate("window.loadedOnce = true")
        live = page.locator("#live")
        await expect(live).to_have_attribute("data-feed", "events")  # the event stream is open: no polling

        await emulator.api.create(WORKFLOW, "fresh-one", {"who": "dashboard"})

        row = page.locator('tr[data-id="fresh-one"]')
        await expect(row).to_be_visible()
        await expect(live).to_have_attribute("data-feed", "events")  # so the stream brought the row
        await expect(page.locator("#wf-showing")).to_have_text("Showing 1-1 of 1")
        status = (await emulator.api.status(WORKFLOW, "fresh-one"))["status"]
        await expect(page.locator(f'#wf-cards .status-card[data-status="{status}"] .card-value')).to_have_text("1")
        await expect(row.locator(".badge")).to_have_text(status.capitalize())
        assert await page.evaluate("window.loadedOnce") is True  # the same document: no reload
        await screenshot(page, "dashboard-workflow")

        await page.locator("a.brand").click()  # home: its cards lead to the list filtered by status
        card = page.locator(f'#home-workflows .workflow:first-child .status-card[data-status="{status}"]')
        await expect(card.locator(".card-value")).to_have_text("1")
        await card.click()
        await expect(page).to_have_url(f"{url}{ROOT}/workflows/{WORKFLOW}?status={status}")
        await expect(page.locator("#wf-filter")).to_have_value(status)
        await expect(row).to_be_visible()
        assert await page.evaluate("window.loadedOnce") is True
        assert errors == []  # no script error, no failed request


async def test_the_timeline_shows_each_retry_and_the_failing_attempts_traceback(emulator: Emulator) -> None:
    async with emulator, serving(emulator) as (url, _), chromium() as browser:
        page, errors = await open_page(browser, f"{url}{ROOT}/workflows/{WORKFLOW}")
        await page.locator("#trigger summary").click()
        await page.locator("#trigger-id").fill("retrying")
        await page.locator("#trigger-params").fill("{not json")
        await page.get_by_role("button", name="Trigger").click()
        await expect(page.locator("#trigger-error")).to_contain_text("Params is not valid JSON")
        await page.locator("#trigger-params").fill('{"fail_times": 2}')
        await page.get_by_role("button", name="Trigger").click()
        await expect(page.locator("#message")).to_have_text("Created instance retrying")

        for _ in range(2):  # the two 1-second retry delays, from the page's clock controls
            await page.get_by_role("button", name="Next timer").click()
            await expect(page.locator("#message")).to_contain_text("Jumped")
        await page.locator('tr[data-id="retrying"] a').click()

        flaky = page.locator('.timeline .line[data-step="flaky-1"]')
        await expect(flaky.locator(".bar.attempt.failed")).to_have_count(2)
        await expect(flaky.locator(".bar.attempt:not(.failed)")).to_have_count(1)
        await expect(flaky.locator(".bar.retry")).to_have_count(2)
        await expect(page.locator('.timeline .line[data-step="nap-1"] .bar.sleep')).to_have_count(1)
        await flaky.locator(".line-label").click()  # zoom the time axis to the step's three seconds
        await expect(flaky).to_have_class("line zoomed")
        await flaky.locator(".bar.failed").first.click()
        traceback = page.locator("#traceback")
        await expect(traceback).to_contain_text("attempt 1 failed: ValueError: flaky failure #1")
        await expect(page.locator("#card-steps")).to_have_text("1 / 2")
        await screenshot(page, "dashboard-instance")

        await emulator.advance("1 minute")  # into the nap, so that restarting it shows
        await page.locator('tr[data-step="nap-1"] button[data-action="restart-from"]').click()
        await expect(page.locator("#message")).to_have_text("Restarted retrying from nap")
        await emulator.settle()
        steps: list[Any] = list((await emulator.api.describe(WORKFLOW, "retrying"))["steps"])
        assert len(steps[0]["attempts"]) == 3  # flaky kept its recorded result: not rerun
        assert (steps[1]["name"], steps[1]["start"]) == ("nap-1", "2026-01-01T00:01:02.000Z")  # the nap began again
        assert errors == []  # no script error, no failed request


async def test_pausing_and_sending_an_event_from_the_page_change_the_instance(emulator: Emulator) -> None:
    async with emulator, serving(emulator) as (url, _), chromium() as browser:
        await emulator.api.create(WORKFLOW, "to-pause", {})
        await emulator.api.create(WORKFLOW, "to-approve", {"sleep": "1 second"})
        await emulator.settle()
        page, errors = await open_page(browser, f"{url}{ROOT}/workflows/{WORKFLOW}")

        await page.locator('tr[data-id="to-pause"] button[data-action="pause"]').click()
        await expect(page.locator('tr[data-id="to-pause"] .badge')).to_have_text("Paused")
        assert (await emulator.api.status(WORKFLOW, "to-pause"))["status"] == "paused"
        delete = page.locator('tr[data-id="to-pause"] button[data-action="delete"]')
        await delete.click()
        await expect(delete).to_have_text("Confirm delete")
        assert await emulator.api.exists(WORKFLOW, "to-pause")  # one click deletes nothing
        await delete.click()
        await expect(page.locator('tr[data-id="to-pause"]')).to_have_count(0)
        assert not await emulator.api.exists(WORKFLOW, "to-pause")

        await page.locator('tr[data-id="to-approve"] a').click()
        await page.locator("#clock-duration").fill("2 seconds")
        await page.get_by_role("button", name="Advance").click()
        await expect(page.locator("#message")).to_have_text("Advanced: the clock is at 2026-01-01 00:00:02Z")
        await expect(page.locator('.timeline .line[data-step="approval-1"] .bar.wait')).to_have_count(1)
        await expect(page.locator("#inst-status .badge")).to_have_text("Waiting")
        await page.locator('#inst-actions button[data-action="event"]').click()
        await expect(page.locator("#event-type")).to_have_value("approve")  # the type the instance waits for
        await page.locator("#event-payload").fill('{"by": "<b>ops</b>"}')
        await page.get_by_role("button", name="Send", exact=True).click()

        await expect(page.locator("#inst-status .badge")).to_have_text("Complete")
        await expect(page.locator("#inst-output")).to_contain_text('"by": "<b>ops</b>"')
        details = await emulator.api.describe(WORKFLOW, "to-approve")
        assert details["status"] == "complete" and details["output"]["approved"] == {"by": "<b>ops</b>"}
        await screenshot(page, "dashboard-instance-complete")

        await page.locator("#inst-back a").click()
        await page.locator("#wf-delete-all").click()
        await expect(page.locator("#wf-delete-all")).to_have_text("Confirm: delete every instance")
        await page.locator("#wf-delete-all").click()
        await expect(page.locator("#wf-showing")).to_have_text("Showing 0-0 of 0")
        assert (await emulator.api.list_instances(WORKFLOW))["total"] == 0
        assert errors == []  # no script error, no failed request


async def test_a_payload_with_a_script_tag_is_shown_as_text(emulator: Emulator) -> None:
    hostile = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    async with emulator, serving(emulator) as (url, _), chromium() as browser:
        await emulator.api.create(WORKFLOW, "hostile", {"who": hostile})
        page, errors = await open_page(browser, f"{url}{ROOT}/workflows/{WORKFLOW}/hostile", width=800)
        await expect(page.locator("#inst-params")).to_contain_text(json.dumps(hostile))  # JSON, as text
        assert await page.locator("main script, main img").count() == 0
        assert await page.evaluate("window.pwned") is None
        await screenshot(page, "dashboard-instance-800px")
        assert errors == []  # no script error, no failed request
