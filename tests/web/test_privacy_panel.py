"""The admin's personal-data panel in headless Chromium: look up, download, erase, then search.

Runs on both databases: the erasure ends with a search of every table of the live server's
database for the person's email address and phone number.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.fixtures.browser import ARTIFACTS, DESKTOP, in_server, watch_errors
from tests.fixtures.clients import auth, open_conversation
from tests.fixtures.servers import ThreadServer
from tests.operators.helpers import PASSWORD, make_operator
from tests.security.erasure import rows_mentioning

pytestmark = pytest.mark.browser

EMAIL = "Giulia.Verdi@Example.com"
PHONE = "+39 347 555 1234"
NEEDLES = ("giulia.verdi@example.com", "3475551234")


def _artifact(name: str) -> Path:
    """Where the panel's screenshot goes (the panel is taller than the window)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"


async def _operator(live: ThreadServer, email: str, role: str) -> None:
    async def work(rt: Any) -> uuid.UUID:
        return await make_operator(rt, email, role=role)

    await in_server(live, work)


async def _log_in(page: Any, live: ThreadServer, email: str) -> None:
    await page.goto(live.base_url + "/dashboard/admin")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Accedi").click()
    await expect(page.get_by_role("heading", name="Amministrazione")).to_be_visible()


async def _customer(http: httpx.AsyncClient) -> dict[str, Any]:
    """Giulia chats, leaves her number and email for an SMS answer: a conversation and a ticket."""
    giulia = await open_conversation(http, language="it")
    sent = await http.post(
        f"/api/v1/conversations/{giulia['id']}/messages",
        json={"body": f"Buongiorno, le luci non si accendono. Scrivetemi pure a {EMAIL}"},
        headers=auth(giulia["token"]),
    )
    assert sent.status_code in (200, 201), sent.text
    contact = await http.post(
        f"/api/v1/conversations/{giulia['id']}/contact",
        json={"method": "sms", "phone": PHONE, "email": EMAIL, "consent": True},
        headers=auth(giulia["token"]),
    )
    assert contact.status_code == 201, contact.text
    return {**giulia, "ticket": contact.json()["ticket_number"]}


async def test_admin_exports_then_erases_a_customer(page: Any, browser: Any, live: ThreadServer, tmp_path: Path) -> None:
    await _operator(live, "capo@shop.test", "admin")
    await _operator(live, "supervisore@shop.test", "supervisor")
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        giulia = await _customer(http)
        bystander = await open_conversation(http, language="it")
        await http.post(
            f"/api/v1/conversations/{bystander['id']}/messages",
            json={"body": "Avete le lucine da esterno?"}, headers=auth(bystander["token"]),
        )
    assert len(await in_server(live, lambda rt: rows_mentioning(rt, NEEDLES))) >= 3

    await page.set_viewport_size({"width": 1280, "height": 1800})  # the whole admin page, for the screenshots
    await _log_in(page, live, "capo@shop.test")
    panel = page.locator("#privacy")
    await expect(panel.get_by_role("heading", name="Dati personali (richieste GDPR)")).to_be_visible()

    # Nothing typed: the panel says what is missing without calling the server.
    await panel.get_by_role("button", name="Cerca dati").click()
    await expect(panel.get_by_role("alert")).to_have_text("Scrivi un indirizzo email o un numero di telefono.")
    # A phone number that is not one: the server's 422 sentence is shown.
    await panel.get_by_label("Telefono").fill("12")
    await panel.get_by_role("button", name="Cerca dati").click()
    await expect(panel.get_by_role("alert")).to_contain_text("phone")

    await panel.get_by_label("Email").fill(EMAIL)
    await panel.get_by_label("Telefono").fill(PHONE)
    await panel.get_by_role("button", name="Cerca dati").click()
    summary = panel.locator("#dsr-result")
    await expect(summary.get_by_role("heading", name=f"Dati conservati per {EMAIL} · {PHONE}")).to_be_focused()
    await expect(summary.locator("tr[data-count=c_conversations] td.num")).to_have_text("1")
    await expect(summary.locator("tr[data-count=c_tickets]")).to_contain_text(giulia["ticket"])
    await expect(summary.locator("tr[data-count=c_contact_requests] td.num")).to_have_text("1")
    await expect(summary.locator("tr[data-count=c_messages] td.num")).not_to_have_text("0")
    await panel.screenshot(path=str(_artifact("dashboard-privacy-lookup")))

    async with page.expect_download() as info:
        await summary.get_by_role("link", name="Scarica JSON").click()
    download = await info.value
    assert download.suggested_filename.startswith("sportello-export-")
    saved = tmp_path / "export.json"
    await download.save_as(saved)
    exported = json.loads(saved.read_text(encoding="utf-8"))
    assert [c["id"] for c in exported["conversations"]] == [giulia["id"]]
    assert [t["number"] for t in exported["tickets"]] == [giulia["ticket"]]
    assert exported["tickets"][0]["phone"] == "+393475551234"
    assert any(EMAIL in m["body"] for m in exported["conversations"][0]["messages"])

    # Erasing asks for the identifier again; a different one is refused in the dialog.
    await summary.get_by_role("button", name="Cancella tutto…").click()
    dialog = page.get_by_role("dialog", name="Cancellare i dati di questa persona?")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Per confermare, scrivi di nuovo l'indirizzo email").fill("giulia@example.com")
    await dialog.get_by_role("button", name="Cancella definitivamente").click()
    await expect(dialog.get_by_role("alert")).to_have_text("Non corrisponde a quanto cercato: ricontrolla e riscrivilo.")
    assert await in_server(live, lambda rt: rows_mentioning(rt, NEEDLES))  # nothing erased yet
    await dialog.get_by_label("Per confermare, scrivi di nuovo l'indirizzo email").fill(EMAIL.lower())
    await dialog.get_by_role("button", name="Cancella definitivamente").click()
    await expect(dialog).to_be_hidden()

    erased = panel.locator("#dsr-result")
    await expect(erased.get_by_role("heading", name="Dati cancellati")).to_be_visible()
    await expect(erased.locator("tr[data-count=e_conversations] td.num")).to_have_text("1")
    await expect(erased.locator("tr[data-count=e_tickets] td.num")).to_have_text("1")
    await expect(erased.locator("tr[data-count=e_contact_requests] td.num")).to_have_text("1")
    audit = erased.locator("#dsr-audit")
    await expect(audit).to_contain_text("data_subject / erased")
    await expect(audit).to_contain_text("nessun dato personale")
    audit_text = (await audit.inner_text()).lower()
    assert all(n not in audit_text for n in NEEDLES) and "347" not in audit_text
    await expect(panel.get_by_label("Email")).to_have_value("")  # the identifiers leave the screen too
    await expect(page.locator("#toasts")).to_contain_text("Dati della persona cancellati.")
    await panel.screenshot(path=str(_artifact("dashboard-privacy-erased")))

    # Every table of the database, searched for her address and number: nothing.
    assert await in_server(live, lambda rt: rows_mentioning(rt, NEEDLES)) == []
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        gone = await http.get(f"/api/v1/conversations/{giulia['id']}", headers=auth(giulia["token"]))
        kept = await http.get(f"/api/v1/conversations/{bystander['id']}", headers=auth(bystander["token"]))
        assert gone.status_code == 404 and kept.status_code == 200
        # The endpoints need the dashboard's CSRF token with the cookie, and the admin role.
        csrf_less = await page.request.post(
            live.base_url + "/api/v1/admin/data-requests/export", data={"email": "x@example.com"}
        )
        assert csrf_less.status == 403
        login = await http.post("/api/v1/auth/login", json={"email": "supervisore@shop.test", "password": PASSWORD})
        token = login.json()["token"]
        denied = await http.post("/api/v1/admin/data-requests/erase", json={"email": "x@example.com"}, headers=auth(token))
        assert denied.status_code == 403

    # The panel speaks English too.
    await page.get_by_role("button", name="Switch to English").click()
    await expect(panel.get_by_role("heading", name="Personal data (GDPR requests)")).to_be_visible()
    await expect(panel.get_by_role("button", name="Look up data")).to_be_visible()

    # A supervisor's admin page has no such panel.
    ctx = await browser.new_context(viewport=DESKTOP, locale="it-IT")
    sup_page = await ctx.new_page()
    errors = watch_errors(sup_page)
    await _log_in(sup_page, live, "supervisore@shop.test")
    await expect(sup_page.get_by_role("heading", name="Notifiche non consegnate")).to_be_visible()
    await expect(sup_page.locator("#privacy")).to_have_count(0)
    assert not errors
    await ctx.close()
