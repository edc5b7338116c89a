"""The operations console in a real headless browser: Debian's chromium, driven by
Playwright for Python, against ``anxin serve`` (uvicorn) on 127.0.0.1 with the demo
data. The test logs in as the demo supervisor, waits for the figures, and checks that
every chart was drawn (an ECharts instance with series holding data, and a canvas with
painted pixels), that a figure downloads as CSV, and that no request left 127.0.0.1.

Playwright's own browser download cannot work offline, so the test uses
``/usr/bin/chromium`` (``ANXIN_CHROMIUM`` to point elsewhere). Without it the test
skips with one line; with ``ANXIN_REQUIRE_CLIENTS=1`` (CI) it fails instead. Set
``ANXIN_CONSOLE_SCREENSHOT=docs/console.png`` to save the README's screenshot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from api.demo import DEMO_STAFF_PASSWORD
from tests.api.gateway_process import ROOT, running_gateway

CHROMIUM = os.environ.get("ANXIN_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("ANXIN_REQUIRE_CLIENTS") == "1"
CHARTS = [
    "trends",
    "funnel",
    "breaches",
    "satisfaction",
    "causes",
    "workload",
    "payouts",
    "collection",
    "deliveries",
]

try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - the dev lock installs it
    async_playwright = None  # type: ignore[assignment]


def _browser_or_skip() -> str:
    missing = []
    if async_playwright is None:
        missing.append("playwright (pip install -r requirements-dev.lock)")
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        missing.append(f"chromium at {CHROMIUM} (apt-get install chromium)")
    if missing:
        message = "console browser test needs " + " and ".join(missing)
        if REQUIRED:
            pytest.fail(message + " (ANXIN_REQUIRE_CLIENTS=1)")
        pytest.skip(message)
    return CHROMIUM


# What the page reports about each chart: its series' data points and painted pixels.
INSPECT = """(names) => names.map((name) => {
  const chart = window.anxinCharts[name];
  const canvas = document.querySelector('#chart-' + name + ' canvas');
  let painted = 0;
  if (canvas && canvas.width && canvas.height) {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
  }
  const series = chart ? chart.getOption().series : [];
  const values = series.flatMap((s) => s.data.map((d) => (d && d.value !== undefined)
    ? d.value : d));
  return { name, series: series.length, nonzero: values.filter((v) => v).length, painted };
})"""


@pytest.mark.timeout(240)
async def test_the_console_draws_the_demo_figures(demo_database_url: str, tmp_path: Path) -> None:
    """On a copy of the demo ``anxin demo`` loaded once for the run (``demo_database``)."""
    chromium = _browser_or_skip()
    assert async_playwright is not None
    async with running_gateway(demo_database_url, tmp_path) as graphql_url:
        origin = graphql_url.removesuffix("/graphql")
        requested: list[str] = []
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                context = await browser.new_context(
                    viewport={"width": 1400, "height": 1900}, accept_downloads=True
                )
                page = await context.new_page()
                page.on("request", lambda request: requested.append(request.url))
                failures: list[str] = []
                page.on("pageerror", lambda error: failures.append(str(error)))

                await page.goto(origin + "/console/")
                await page.fill("#username", "supervisor.zhao")
                await page.fill("#password", DEMO_STAFF_PASSWORD)
                await page.click("#login-button")
                await page.wait_for_selector("body[data-loaded=yes]", timeout=60_000)
                assert await page.locator("#board-error").text_content() == ""

                charts = await page.evaluate(INSPECT, CHARTS)
                for chart in charts:
                    assert chart["series"] > 0, chart
                    assert chart["nonzero"] > 0, chart  # the demo data shows in each
                    assert chart["painted"] > 1000, chart  # the canvas was drawn on
                kpis = await page.locator(".kpi b").all_text_contents()
                assert int(kpis[0]) >= 30, kpis  # three months of reported claims
                # The funnel of one product kind: part of all the claims reported.
                await page.select_option("#segment", "KIND:AUTO")
                first_step = "window.anxinCharts.funnel.getOption().series[0].data[0].value"
                assert 0 < await page.evaluate(first_step) < int(kpis[0])
                await page.select_option("#segment", "ALL")

                async with page.expect_download() as waiting:
                    await page.click("button[data-export='funnel:csv']")
                download = await waiting.value
                saved = tmp_path / download.suggested_filename
                await download.save_as(saved)
                assert saved.name.startswith("anxin-funnel-week-")
                assert saved.read_bytes().startswith(b"\xef\xbb\xbfperiod,segment,reported")

                shot = os.environ.get("ANXIN_CONSOLE_SCREENSHOT")
                if shot:
                    await page.screenshot(path=str(ROOT / shot), full_page=True)
                assert failures == []
            finally:
                await browser.close()

    assert requested, "the page made no requests"
    hosts = {urlsplit(url).hostname for url in requested if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, hosts
