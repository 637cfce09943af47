"""The analytics page in headless Chromium: nav entry, charts drawn from a generated month."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from sportello.analytics.generator import generate_history
from tests.fixtures.browser import in_server, screenshot
from tests.fixtures.servers import ThreadServer
from tests.operators.helpers import PASSWORD, make_operator

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]


async def test_analytics_page_draws_its_charts(live: ThreadServer, page: Any) -> None:
    async def seed(rt: Any) -> dict[str, int]:
        await make_operator(rt, "sup@example.com", name="Sara Sup", role="supervisor")
        return await generate_history(rt.db, days=30, conversations=400, timezone=rt.settings.timezone)

    counts = await in_server(live, seed)
    assert counts["conversations"] == 400 and counts["facts"] == 400
    await page.goto(live.base_url + "/dashboard")
    await page.get_by_label("Email").fill("sup@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Accedi").click()
    await page.get_by_role("link", name="Statistiche").click()
    await expect(page.get_by_role("heading", name="Statistiche", level=1)).to_be_visible()
    await expect(page.locator('[data-report="channels"] table').first).to_be_visible()
    assert await page.locator(".chart-stacked rect.bar").count() > 30
    assert await page.locator(".chart-heatmap rect.cell").count() == 7 * 24
    assert await page.locator('[data-report="assistant"] .chart-hbars rect').count() > 0
    assert await page.locator('[data-report="satisfaction"] .chart-hbars rect').count() == 5
    assert await page.locator('[data-report="operators"] tbody tr').count() > 0
    await expect(page.locator('[data-report="outcomes"] .stat-value').first).to_have_text("400")
    href = await page.locator('[data-report="queue"] a[download]').get_attribute("href")
    assert href.startswith("/api/v1/reports/queue?") and href.endswith("format=csv")
    csv = await page.evaluate("url => fetch(url).then(r => r.text())", href)
    assert csv.startswith("table,")
    await page.get_by_role("button", name="EN").click()
    await expect(page.get_by_role("heading", name="Analytics", level=1)).to_be_visible()
    await expect(page.locator(".chart-heatmap rect.cell")).to_have_count(7 * 24)
    await screenshot(page, "analytics")
