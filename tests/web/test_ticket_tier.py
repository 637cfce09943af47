"""Moving a ticket to another tier from the dashboard's ticket detail, in headless Chromium."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.fixtures.browser import screenshot
from tests.fixtures.servers import ThreadServer
from tests.web.test_dashboard import add_operator, api_token, log_in, new_ticket, settings

__all__ = ["settings"]  # the dashboard tests' settings fixture (desk always open)
pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]


async def test_supervisor_moves_a_ticket_to_tier_two(page: Any, live: ThreadServer) -> None:
    await add_operator(live, "sara@example.com", name="Sara Rossi", role="supervisor")
    await add_operator(live, "ugo@example.com", name="Ugo Bianchi", role="agent", tier=1)
    token = await api_token(live, "sara@example.com")
    ticket = await new_ticket(live, token, contact_method="email", email="anna@example.com",
                              subject="Rimborso contestato", priority="high")

    await log_in(page, live, "sara@example.com", path=f"/dashboard/tickets/{ticket['number']}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Rimborso contestato")
    tier = page.get_by_label("Livello", exact=True)
    await expect(tier).to_have_value("1")
    await tier.select_option("2")
    await page.get_by_label("Motivo (facoltativo)").fill("serve il responsabile rimborsi")
    await page.get_by_role("button", name="Sposta al livello").click()
    await expect(page.locator("#toasts")).to_contain_text("Ticket spostato al livello 2.")
    await expect(page.locator(".history")).to_contain_text("livello cambiato")
    await expect(page.locator(".history")).to_contain_text("Livello 1 → Livello 2")
    await expect(page.locator(".history")).to_contain_text("serve il responsabile rimborsi")
    await expect(page.get_by_label("Livello", exact=True)).to_have_value("2")
    await screenshot(page, "dashboard-ticket-tier")
    async with httpx.AsyncClient(base_url=live.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        assert (await http.get(f"/api/v1/tickets/{ticket['number']}")).json()["tier"] == 2

    # A tier-1 agent no longer sees it, and has no tier control on the tickets they do see.
    mine = await new_ticket(live, token, contact_method="email", email="bo@example.com", subject="Orari")
    await page.get_by_role("button", name="Esci").click()
    await log_in(page, live, "ugo@example.com", path=f"/dashboard/tickets/{mine['number']}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Orari")
    await expect(page.get_by_role("button", name="Salva modifiche")).to_be_visible()
    await expect(page.get_by_role("button", name="Sposta al livello")).to_have_count(0)
