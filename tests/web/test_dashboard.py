"""The operator dashboard in headless Chromium, against a real server."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from sportello.config import Settings
from tests.fixtures.backends import Backend
from tests.fixtures.browser import DESKTOP, Widget, in_server, screenshot, watch_errors
from tests.fixtures.clients import auth, open_conversation
from tests.fixtures.servers import ThreadServer
from tests.operators.helpers import PASSWORD, make_operator

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]

# A fake Notification that records what the page shows, installed before the page's scripts run.
FAKE_NOTIFICATIONS = """
window.__notes = [];
window.__alerts = [];
class FakeNotification {
  constructor(title, options) { window.__notes.push({ title, body: options && options.body }); }
  static requestPermission() { FakeNotification.permission = 'granted'; return Promise.resolve('granted'); }
}
FakeNotification.permission = 'default';
window.Notification = FakeNotification;
document.addEventListener('sportello:alert', (e) => window.__alerts.push(e.detail));
"""


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=backend.database_url,
        redis_url=backend.redis_url,
        redis_prefix=f"sportello-test-{uuid.uuid4().hex[:10]}",
        secret_key=f"test-{uuid.uuid4().hex}",
        assistant_semantic=False,
        opening_hours="always",
        ticker_interval=0.2,
        limit_conversations_per_address_hour=10_000,
        limit_messages_per_conversation_minute=10_000,
        limit_ws_frames_per_second=10_000,
    )


async def add_operator(live: ThreadServer, email: str, **kw: Any) -> uuid.UUID:
    async def work(rt: Any) -> uuid.UUID:
        return await make_operator(rt, email, **kw)

    op_id: uuid.UUID = await in_server(live, work)
    return op_id


async def load_demo_kb(live: ThreadServer) -> None:
    """The shop's knowledge base, so that the assistant answers and hands over as in production."""
    from sportello.assistant.cli import demo_kb_text
    from sportello.assistant.kb import load_kb_yaml
    from sportello.assistant.service import replace_topics

    async def work(rt: Any) -> None:
        async with rt.db.scope() as session:
            await replace_topics(session, load_kb_yaml(demo_kb_text()), actor_type="test")

    await in_server(live, work)


async def log_in(page: Any, live: ThreadServer, email: str, path: str = "/dashboard") -> None:
    await page.goto(live.base_url + path)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Accedi").click()
    await expect(page.locator("header.topbar")).to_be_visible()


async def test_login_screen_and_wrong_password(page: Any, live: ThreadServer) -> None:
    await add_operator(live, "sara@example.com", name="Sara Rossi")
    await page.goto(live.base_url + "/dashboard")
    await expect(page.get_by_role("heading", name="Accesso operatori")).to_be_visible()
    await expect(page.get_by_label("Email")).to_be_focused()
    await screenshot(page, "dashboard-login")
    await page.get_by_label("Email").fill("sara@example.com")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Accedi").click()
    await expect(page.get_by_role("alert")).to_contain_text("wrong email or password")
    await expect(page.get_by_label("Password")).to_be_focused()
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Password").press("Enter")
    await expect(page.locator(".me-name")).to_have_text("Sara Rossi")
    await expect(page.get_by_role("radio", name="Online")).to_be_checked()
    # A reload keeps the session (HttpOnly cookie); the CSRF token comes back from the server.
    await page.reload()
    await expect(page.locator(".me-name")).to_have_text("Sara Rossi")
    await expect(page.get_by_role("radio", name="Online")).to_be_checked()


async def test_offer_accept_chat_note_transfer_and_end(browser: Any, page: Any, context: Any, live: ThreadServer) -> None:
    """Sara takes a visitor from the widget, chats, notes, transfers to Teo, who ends the chat."""
    await add_operator(live, "sara@example.com", name="Sara Rossi")
    teo_id = await add_operator(live, "teo@example.com", name="Teo Bianchi")
    await load_demo_kb(live)
    await context.add_init_script(FAKE_NOTIFICATIONS)
    await log_in(page, live, "sara@example.com")
    await expect(page.locator("#queue-list")).to_contain_text("Nessun visitatore in attesa")
    await page.get_by_role("button", name="Attiva notifiche desktop").click()
    await expect(page.locator("#notif-box")).to_contain_text("Notifiche desktop attive")

    # The visitor, on the shop in another browser context, asks for a person.
    visitor_ctx = await browser.new_context(viewport=DESKTOP, locale="it-IT")
    visitor_page = await visitor_ctx.new_page()
    visitor_errors = watch_errors(visitor_page)
    widget = Widget(visitor_page, live)
    await widget.goto("/")
    await widget.open()
    await widget.send("Vorrei parlare con un operatore, per favore")

    offer = page.locator("#offers .offer")
    await expect(offer).to_have_count(1, timeout=15_000)  # the assistant answers first
    await expect(offer).to_contain_text("IT")
    await expect(page.locator("#console-count")).to_have_text("1")
    alerts = await page.evaluate("window.__alerts")
    assert alerts and alerts[0]["kind"] == "offer" and alerts[0]["notification"] is True
    assert (await page.evaluate("window.__notes"))[0]["title"] == "Nuova richiesta di chat"
    await screenshot(page, "dashboard-offer")

    await offer.get_by_role("button", name="Accetta").click()
    await expect(page.locator("#offers")).to_be_hidden()
    composer = page.locator("#composer-input")
    await expect(composer).to_be_focused()
    transcript = page.locator("#transcript")
    await expect(transcript).to_have_attribute("aria-live", "polite")
    await expect(transcript.locator(".from-visitor")).to_contain_text(["Vorrei parlare con un operatore"])
    await expect(widget.messages("system", "Sara")).to_have_count(1)

    # Messages both ways; the visitor's markup stays text.
    await composer.fill("Buongiorno, sono Sara. Come posso aiutarla?")
    await composer.press("Enter")
    await expect(widget.messages("operator", "Come posso aiutarla?")).to_have_count(1)
    await widget.send('Ho perso il biglietto <img src=x onerror="window.pwned=1">')
    await expect(transcript.locator(".from-visitor", has_text="Ho perso il biglietto")).to_have_count(1)
    assert await transcript.locator("img").count() == 0
    assert await page.evaluate("window.pwned") is None

    # A canned reply fills the composer; an internal note is shown apart and never reaches the visitor.
    await page.get_by_role("radio", name="Nota interna").check()
    await expect(page.locator(".composer")).to_have_class("composer is-note")
    await composer.fill("Cliente VIP: rimborso già approvato")
    await composer.press("Enter")
    note = transcript.locator(".item.note")
    await expect(note).to_contain_text("Cliente VIP: rimborso già approvato")
    await expect(note).to_contain_text("Nota interna")
    await expect(page.locator("#chat-info .note-list")).to_contain_text("rimborso già approvato")
    await page.get_by_role("radio", name="Risposta").check()
    await screenshot(page, "dashboard-chat")
    state = await widget.stored()
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        listed = (await http.get(f"/api/v1/conversations/{state['id']}/messages", headers=auth(state["token"]))).json()
    assert all("VIP" not in m["body"] for m in listed)
    await expect(widget.messages(text="VIP")).to_have_count(0)

    # Teo is online in his own dashboard; Sara transfers the chat to him.
    teo_ctx = await browser.new_context(viewport=DESKTOP, locale="it-IT")
    teo_page = await teo_ctx.new_page()
    teo_errors = watch_errors(teo_page)
    await log_in(teo_page, live, "teo@example.com")
    await expect(teo_page.get_by_role("radio", name="Online")).to_be_checked()
    await page.get_by_role("button", name="Trasferisci").click()
    dialog = page.get_by_role("dialog", name="Trasferisci la chat")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Operatore").select_option(str(teo_id))
    await dialog.get_by_role("button", name="Trasferisci").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#chat-list")).to_contain_text("Nessuna chat aperta")

    teo_offer = teo_page.locator("#offers .offer")
    await expect(teo_offer).to_contain_text("trasferita")
    await teo_offer.get_by_role("button", name="Accetta").click()
    # Teo sees the whole conversation and Sara's note.
    await expect(teo_page.locator("#transcript .item.note")).to_contain_text("rimborso già approvato")
    await expect(teo_page.locator("#transcript .from-operator")).to_contain_text(["Come posso aiutarla?"])
    await teo_page.locator("#composer-input").fill("Sono Teo, le invio subito il nuovo biglietto.")
    await teo_page.get_by_role("button", name="Invia").click()
    await expect(widget.messages("operator", "Sono Teo")).to_have_count(1)

    await teo_page.get_by_role("button", name="Termina").click()
    await teo_page.get_by_role("dialog").get_by_role("button", name="Termina").click()
    await expect(teo_page.locator(".chat-head")).to_contain_text("Chat terminata")
    await expect(teo_page.locator("#composer-input")).to_have_count(0)
    await expect(visitor_page.locator("sportello-widget .cards")).to_contain_text("Invia")
    assert not visitor_errors and not teo_errors
    await teo_ctx.close()
    await visitor_ctx.close()


async def api_token(live: ThreadServer, email: str) -> str:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        r = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        token: str = r.json()["token"]
        return token


async def new_ticket(live: ThreadServer, token: str, **body: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=live.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        r = await http.post("/api/v1/tickets", json=body)
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data


async def test_tickets_filter_search_detail_and_a_refused_status_move(page: Any, live: ThreadServer) -> None:
    await add_operator(live, "sara@example.com", name="Sara Rossi", role="supervisor")
    token = await api_token(live, "sara@example.com")
    lost = await new_ticket(live, token, contact_method="phone", phone="+39 333 1234567", subject="Biglietto perso",
                            description="Ha perso il biglietto della serata del 12.", priority="high")
    refund = await new_ticket(live, token, contact_method="email", email="anna@example.com",
                              subject="Rimborso per maltempo", priority="urgent", tags=["rimborso"])
    await new_ticket(live, token, contact_method="email", email="luca@example.com", subject="Parcheggio disabili", priority="low")
    async with httpx.AsyncClient(base_url=live.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        r = await http.patch(f"/api/v1/tickets/{refund['number']}", json={"status": "in_progress"})
        assert r.status_code == 200, r.text

    await log_in(page, live, "sara@example.com")
    await page.get_by_role("link", name="Ticket").click()
    await expect(page.get_by_role("heading", name="Ticket", exact=True)).to_be_visible()
    rows = page.locator(".tickets-table tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.first.locator(".badge.sla")).to_have_attribute("data-state", "ok")
    await screenshot(page, "dashboard-tickets")

    await page.get_by_label("Stato", exact=True).select_option("in_progress")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Rimborso per maltempo")
    assert "status=in_progress" in page.url
    await page.get_by_role("button", name="Azzera").click()
    await expect(rows).to_have_count(3)
    await page.get_by_label("Priorità", exact=True).select_option("urgent")
    await expect(rows).to_have_count(1)
    await page.get_by_role("button", name="Azzera").click()
    await page.get_by_label("Cerca", exact=True).fill("biglietto")
    await page.get_by_label("Cerca", exact=True).press("Enter")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(lost["number"])

    await rows.first.get_by_role("link", name=lost["number"]).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Biglietto perso")
    await expect(page.locator(".history")).to_contain_text("creato")
    await page.get_by_label("Nota interna").fill("Richiamare dopo le 15")
    await page.get_by_role("button", name="Aggiungi nota").click()
    await expect(page.locator(".notes-panel .note-list")).to_contain_text("Richiamare dopo le 15")
    await page.get_by_label("Stato", exact=True).select_option("resolved")
    await page.get_by_label("Etichette").fill("telefono, biglietti")
    await page.get_by_role("button", name="Salva modifiche").click()
    await expect(page.locator(".page-head .badge.status-resolved")).to_have_text("Risolto")
    await expect(page.locator(".history")).to_contain_text("Aperto → Risolto")
    await expect(page.locator(".page-head")).to_contain_text("#telefono")
    # resolved → waiting_user is not a legal move: the server's 409 is shown as a sentence.
    await page.get_by_label("Stato", exact=True).select_option("waiting_user")
    await page.get_by_role("button", name="Salva modifiche").click()
    error = page.locator("#props-error")
    await expect(error).to_contain_text("Operazione non consentita")
    await expect(error).to_have_attribute("role", "alert")
    await expect(page.locator(".page-head .badge.status-resolved")).to_have_text("Risolto")
    await screenshot(page, "dashboard-ticket-detail")
    await page.go_back()
    await expect(page.get_by_role("heading", name="Ticket", exact=True)).to_be_visible()


async def test_manual_ticket_for_a_phone_call(page: Any, live: ThreadServer) -> None:
    await add_operator(live, "sara@example.com", name="Sara Rossi")
    await log_in(page, live, "sara@example.com", path="/dashboard/tickets")
    await page.get_by_role("link", name="Nuovo ticket").click()
    await expect(page.get_by_label("Canale di contatto")).to_have_value("phone")
    await page.get_by_label("Oggetto").fill("Cambio data biglietti")
    await page.get_by_role("button", name="Crea ticket").click()
    await expect(page.get_by_role("alert")).to_contain_text("phone")  # required for a phone ticket
    await page.get_by_label("Telefono").fill("333 765 4321")
    await page.get_by_label("Riferimento cliente").fill("CUST-77")
    await page.get_by_label("Descrizione").fill("Chiede di spostare 4 biglietti al 20 dicembre.")
    await page.get_by_label("Priorità", exact=True).select_option("high")
    await page.get_by_label("Etichette").fill("cambio-data")
    await screenshot(page, "dashboard-ticket-new")
    await page.get_by_role("button", name="Crea ticket").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Cambio data biglietti")
    await expect(page.locator(".detail-side")).to_contain_text("+393337654321")
    await expect(page.locator(".detail-side")).to_contain_text("CUST-77")
    await expect(page.locator(".page-head")).to_contain_text("Alta")
    await assignee_of(page)
    number = (await page.locator(".page-head .mono").inner_text()).strip()
    assert number.startswith("LDN-")
    await page.get_by_role("link", name="Torna ai ticket").click()
    await expect(page.locator(".tickets-table tbody tr")).to_have_count(1)


async def assignee_of(page: Any) -> str:
    value: str = await page.get_by_label("Assegnatario").input_value()
    assert value, "the creator is the default assignee"
    return value


async def test_language_switch_is_remembered(page: Any, live: ThreadServer) -> None:
    await add_operator(live, "sara@example.com", name="Sara Rossi")
    await page.goto(live.base_url + "/dashboard")
    await page.get_by_role("button", name="Switch to English").click()
    await expect(page.get_by_role("heading", name="Operator login")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.get_by_label("Email").fill("sara@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("link", name="Tickets")).to_be_visible()
    await expect(page.get_by_role("radio", name="Away")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("link", name="Tickets")).to_be_visible()
    await expect(page.locator("#queue-list")).to_contain_text("Nobody is waiting")
    await page.get_by_role("button", name="Passa all'italiano").click()
    await expect(page.get_by_role("link", name="Ticket", exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="Switch to English")).to_be_focused()


async def test_keyboard_only_login_accept_and_reply(page: Any, context: Any, live: ThreadServer) -> None:
    await add_operator(live, "sara@example.com", name="Sara Rossi")
    await page.goto(live.base_url + "/dashboard")
    await expect(page.get_by_label("Email")).to_be_focused()
    await page.keyboard.type("sara@example.com")
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.locator(".me-name")).to_have_text("Sara Rossi")
    await expect(page.locator("#main")).to_be_focused()
    # Presence by keyboard: arrow keys move within the radio group.
    await page.get_by_role("radio", name="Online").focus()
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_role("radio", name="Assente")).to_be_checked()
    await expect(page.locator("body")).not_to_contain_text("Connessione persa")

    async def presence_now() -> str:
        async def work(rt: Any) -> str:
            from sqlalchemy import select

            from sportello.operators.models import Operator

            async with rt.db.scope() as session:
                op = (await session.execute(select(Operator))).scalar_one()
                return str(op.presence)

        value: str = await in_server(live, work)
        return value

    for _ in range(50):
        if await presence_now() == "away":
            break
        await page.wait_for_timeout(100)
    assert await presence_now() == "away"
    await page.keyboard.press("ArrowLeft")
    await expect(page.get_by_role("radio", name="Online")).to_be_checked()
    for _ in range(50):
        if await presence_now() == "online":
            break
        await page.wait_for_timeout(100)

    # A visitor asks for a person through REST (as the widget's button does).
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        conv = await open_conversation(http, language="it")
        r = await http.post(f"/api/v1/conversations/{conv['id']}/handoff", headers=auth(conv["token"]))
        assert r.json()["outcome"] == "queued", r.text
    await expect(page.locator("#offers .offer")).to_have_count(1)
    await page.keyboard.press("Alt+a")
    composer = page.locator("#composer-input")
    await expect(composer).to_be_focused()
    await page.keyboard.type("Eccomi, mi dica.")
    await page.keyboard.press("Enter")
    await expect(page.locator("#transcript .from-operator")).to_contain_text(["Eccomi, mi dica."])
    # Tab leaves the composer for the send button; Shift+Tab walks back to the chat controls.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Invia")).to_be_focused()
    await page.get_by_role("button", name="Termina").focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("button", name="Annulla")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    # A closed <dialog> leaves the accessibility tree before its close event removes it.
    await expect(page.locator("dialog")).to_have_count(0)
    await expect(page.get_by_role("button", name="Termina")).to_be_focused()
    # The navigation is reachable by keyboard, and so is the first ticket control.
    await page.get_by_role("link", name="Ticket").focus()
    await expect(page.get_by_role("link", name="Ticket")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Ticket", exact=True)).to_be_visible()


async def test_admin_creates_and_deactivates_operators_and_retries_dead_letters(page: Any, live: ThreadServer) -> None:
    await add_operator(live, "boss@example.com", name="Bea Admin", role="admin")

    async def dead_letter(rt: Any) -> int:
        from sportello.notifications.models import OutboxState
        from sportello.notifications.outbox import enqueue

        async with rt.db.scope() as session:
            row = await enqueue(session, kind="ticket_opened", channel="email", recipient="anna@example.com",
                                payload={"number": "LDN-000001"}, idempotency_key="test-dead-1")
            row.state = OutboxState.DEAD.value
            row.attempts = 8
            row.last_error = "SMTP 550 mailbox unavailable"
            return int(row.id)

    dead_id = await in_server(live, dead_letter)
    await log_in(page, live, "boss@example.com")
    await page.get_by_role("link", name="Amministrazione").click()
    await expect(page.get_by_role("heading", name="Amministrazione")).to_be_visible()
    dead_row = page.locator(f"tr[data-id='{dead_id}']")
    await expect(dead_row).to_contain_text("SMTP 550")

    await page.get_by_label("Nome", exact=True).fill("Nuova Collega")
    await page.locator("#op-email").fill("nuova@example.com")
    await page.locator("#op-password").fill("una password lunga")
    await page.get_by_label("Ruolo").select_option("supervisor")
    await page.get_by_role("button", name="Aggiungi operatore").click()
    new_row = page.locator("tr[data-email='nuova@example.com']")
    await expect(new_row).to_contain_text("Supervisore")
    await screenshot(page, "dashboard-admin")
    await new_row.get_by_role("button", name="Disattiva Nuova Collega").click()
    await page.get_by_role("dialog").get_by_role("button", name="Disattiva").click()
    await expect(new_row).to_have_class("inactive")
    await expect(new_row).to_contain_text("No")

    await dead_row.get_by_role("button", name=f"Riprova #{dead_id}").click()
    await expect(page.locator("#toasts")).to_contain_text(f"Notifica {dead_id} rimessa in coda")
    await expect(dead_row).to_have_count(0)


async def test_agents_do_not_see_admin(page: Any, live: ThreadServer) -> None:
    await add_operator(live, "sara@example.com", name="Sara Rossi")
    await log_in(page, live, "sara@example.com", path="/dashboard/admin")
    await expect(page.get_by_role("link", name="Amministrazione")).to_have_count(0)
    await expect(page.locator("#queue-list")).to_be_visible()  # the console instead
    # Logging out ends the session: the next load shows the login form.
    await page.get_by_role("button", name="Esci").click()
    await expect(page.get_by_role("heading", name="Accesso operatori")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("heading", name="Accesso operatori")).to_be_visible()


async def test_callbacks_view_lists_phone_callbacks_by_slot(page: Any, live: ThreadServer) -> None:
    from datetime import UTC, datetime, timedelta

    await add_operator(live, "sara@example.com", name="Sara Rossi", role="supervisor")
    token = await api_token(live, "sara@example.com")
    base = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    for subject, hours in (("Richiamata tardi", 5), ("Richiamata presto", 1)):
        await new_ticket(live, token, contact_method="phone", phone="+39 333 1234567", subject=subject,
                         callback_at=(base + timedelta(hours=hours)).isoformat())
    await new_ticket(live, token, contact_method="email", email="luca@example.com", subject="Per email")

    await log_in(page, live, "sara@example.com")
    await page.get_by_role("link", name="Ticket").click()
    rows = page.locator(".tickets-table tbody tr")
    await expect(rows).to_have_count(3)
    await page.get_by_label("Vista", exact=True).select_option("callbacks")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("Richiamata presto")
    await expect(rows.nth(1)).to_contain_text("Richiamata tardi")
    await expect(page.get_by_role("columnheader", name="Richiamare il")).to_be_visible()
    assert "callback=true" in page.url and "sort=callback_at" in page.url
