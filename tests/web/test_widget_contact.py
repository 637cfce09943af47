"""The widget's contact form, ticket confirmation and queue-timeout choice in headless Chromium."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import select

from sportello.config import Settings
from sportello.queue.models import EntryState, QueueEntry
from sportello.timeutil import utc_now
from tests.fixtures.backends import Backend
from tests.fixtures.browser import Widget, in_server, screenshot, watch_errors
from tests.fixtures.clients import auth, open_conversation
from tests.fixtures.servers import ThreadServer
from tests.operators.helpers import PASSWORD, go_online, make_operator

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 640}
ASK = "Vorrei parlare con un operatore"


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
        # Operators here are online without a dashboard socket: keep them so for the whole test.
        presence_timeout_seconds=3600,
        limit_conversations_per_address_hour=10_000,
        limit_messages_per_conversation_minute=10_000,
        limit_ws_frames_per_second=10_000,
    )


async def staff_token(live: ThreadServer, email: str = "sup@example.com") -> str:
    async def work(rt: Any) -> uuid.UUID:
        return await make_operator(rt, email, role="supervisor")

    await in_server(live, work)
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        r = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        token: str = r.json()["token"]
        return token


async def read_ticket(live: ThreadServer, token: str, number: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=live.base_url, headers=auth(token)) as http:
        r = await http.get(f"/api/v1/tickets/{number}")
        assert r.status_code == 200, r.text
        ticket: dict[str, Any] = r.json()
        return ticket


async def reload(widget: Widget) -> None:
    """Reload the page; the panel stays open (on a phone it then hides the launcher)."""
    await widget.page.reload()
    await widget.launcher.wait_for(state="attached")
    await widget.open()


async def formatted(page: Any, iso: str, lang: str) -> str:
    """`iso` as the widget writes a date and time for a visitor in `lang`, in the business zone."""
    text: str = await page.evaluate(
        """([iso, lang]) => new Intl.DateTimeFormat(lang, {weekday: "long", day: "numeric", month: "long",
            hour: "2-digit", minute: "2-digit", timeZone: "Europe/Rome"}).format(new Date(iso))""",
        [iso, lang],
    )
    return text


async def test_nobody_online_form_error_fixed_then_ticket_confirmation(browser: Any, live: ThreadServer) -> None:
    """Nobody online: the form opens, a wrong email gets the validator's sentence, the fix a ticket."""
    token = await staff_token(live)  # a supervisor account, offline: nobody takes chats
    ctx = await browser.new_context(viewport=PHONE, locale="it-IT", is_mobile=True, has_touch=True)
    page = await ctx.new_page()
    errors = watch_errors(page)
    widget = Widget(page, live)
    await widget.goto("/")
    await widget.open()
    await widget.send(ASK)

    form = widget.cards.locator("form.contact")
    await expect(form).to_be_visible(timeout=15_000)
    await expect(widget.subtitle).to_have_text("Lasciaci un recapito")
    await expect(form.get_by_role("heading", name="Lasciaci un recapito")).to_be_visible()
    await expect(form.get_by_role("radio", name="Email")).to_be_checked()
    # The chat-typed path stays on offer: the options menu with its quick replies is in the log.
    await expect(widget.messages("system", "Come preferisci essere ricontattato?")).to_have_count(1)

    email = form.get_by_label("Indirizzo email")
    await email.fill("anna@esempio")
    await form.get_by_label("Acconsento a essere ricontattato").check()
    await form.get_by_role("button", name="Invia richiesta").click()

    error = form.locator("#sp-c-email-err")
    await expect(error).to_have_text(re.compile("Il dominio «esempio» è incompleto"))
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(email).to_have_attribute("aria-describedby", "sp-c-email-err")
    await expect(email).to_be_focused()
    await expect(form.get_by_role("alert")).to_have_text("Controlla i campi evidenziati.")
    # Nothing typed is lost.
    await expect(email).to_have_value("anna@esempio")
    await expect(form.get_by_label("Acconsento a essere ricontattato")).to_be_checked()
    await screenshot(page, "widget-contact-form-360")
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= 360

    await email.fill("anna@esempio.it")
    await form.get_by_role("button", name="Invia richiesta").click()
    ticket_card = widget.cards.locator(".card.ticket")
    await expect(ticket_card).to_be_visible()
    await expect(ticket_card.get_by_role("heading", name="Richiesta registrata")).to_be_focused()
    number = (await ticket_card.locator(".ticket-no").inner_text()).strip()
    assert re.fullmatch(r"[A-Z]+-\d{6}", number), number
    await expect(widget.subtitle).to_have_text("Richiesta registrata")

    # The card says what the server recorded: the ticket, its SLA due time, the channel.
    ticket = await read_ticket(live, token, number)
    conv_id = (await widget.stored())["id"]
    assert ticket["conversation_id"] == conv_id
    assert (ticket["contact_method"], ticket["email"]) == ("email", "anna@esempio.it")
    assert ticket["consent_at"] is not None
    await expect(ticket_card.locator(".ticket-when")).to_have_text(
        await formatted(page, ticket["first_response_due_at"], "it")
    )
    await expect(ticket_card).to_contain_text("Risposta prevista entro")
    await expect(ticket_card).to_contain_text("Email · anna@esempio.it")
    await expect(ticket_card).to_contain_text("La conversazione resta qui")
    await expect(ticket_card).to_contain_text("Ti mandiamo la conferma anche via email")
    await expect(widget.messages("system", f"Abbiamo aperto la richiesta {number}")).to_have_count(1)
    await screenshot(page, "widget-ticket-confirmation-360")

    # A reload still shows it; "Ho capito" puts it away for good and gives the message box the focus.
    await reload(widget)
    await expect(ticket_card.locator(".ticket-no")).to_have_text(number)
    await ticket_card.get_by_role("button", name="Ho capito").click()
    await expect(ticket_card).to_have_count(0)
    await expect(widget.input).to_be_focused()
    # What the visitor writes next goes onto the ticket's conversation.
    await widget.send("Ho anche una seconda domanda")
    await expect(widget.messages("visitor", "seconda domanda")).to_have_attribute("data-state", "sent")
    async with httpx.AsyncClient(base_url=live.base_url, headers=auth(token)) as http:
        for _ in range(50):
            history = (await http.get(f"/api/v1/tickets/{number}/history")).json()
            if any(e["action"] == "customer_replied" for e in history):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"the visitor's message never reached ticket {number}: {history}")
    await reload(widget)
    await expect(widget.messages("visitor", "seconda domanda")).to_have_count(1)
    await expect(widget.cards.locator(".card")).to_have_count(0)
    assert not errors, errors
    await ctx.close()


async def press_until(widget: Widget, key: str, where: str, tries: int = 10) -> None:
    for _ in range(tries):
        await widget.page.keyboard.press(key)
        if await widget.focus_path() == where:
            return
    pytest.fail(f"{key} never reached {where}")


async def test_keyboard_only_contact_form_in_english(browser: Any, live: ThreadServer) -> None:
    """Tab, arrows, Space and Enter only; the server's phone sentence comes back in English."""
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    page = await ctx.new_page()
    errors = watch_errors(page)
    widget = Widget(page, live)
    await widget.goto("/")
    for _ in range(30):
        await page.keyboard.press("Tab")
        if await widget.focus_path() == "launcher":
            break
    else:
        pytest.fail("Tab never reached the chat launcher")
    await page.keyboard.press("Enter")
    assert await widget.focus_path() == "panel:sp-input"
    # The shop page is Italian: switch the widget to English from the header, by keyboard.
    await press_until(widget, "Shift+Tab", "panel:hbtn lang")
    await page.keyboard.press("Enter")
    await expect(widget.subtitle).to_have_text("Virtual assistant")
    await press_until(widget, "Tab", "panel:sp-input")
    await page.keyboard.type("I would like to talk to a person")
    await page.keyboard.press("Enter")

    form = widget.cards.locator("form.contact")
    await expect(form).to_be_visible(timeout=15_000)
    # The form takes the focus from the (now empty) message box, on its heading.
    await expect(form.get_by_role("heading", name="Leave us a contact")).to_be_focused()
    await page.keyboard.press("Tab")
    assert await widget.focus_path() == "panel:sp-m-email"
    await page.keyboard.press("ArrowRight")  # radio group: Email → WhatsApp
    await expect(form.get_by_role("radio", name="WhatsApp")).to_be_checked()
    await expect(form.get_by_label("Mobile number")).to_be_visible()
    await expect(form.get_by_label("Email address")).to_be_hidden()
    await page.keyboard.press("Tab")
    assert await widget.focus_path() == "panel:sp-c-phone"
    await page.keyboard.type("02 1234 5678")  # a Milan landline: no WhatsApp there
    await page.keyboard.press("Tab")
    assert await widget.focus_path() == "panel:sp-c-consent"
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")

    phone = form.get_by_label("Mobile number")
    await expect(form.locator("#sp-c-phone-err")).to_contain_text("mobile")
    await expect(phone).to_be_focused()
    await expect(phone).to_have_attribute("aria-describedby", "sp-c-phone-hint sp-c-phone-err")
    await expect(phone).to_have_value("02 1234 5678")
    await screenshot(page, "widget-contact-form-en")
    await page.keyboard.press("Control+a")
    await page.keyboard.type("+39 333 123 4567")
    await page.keyboard.press("Enter")  # Enter in a field submits the form

    ticket_card = widget.cards.locator(".card.ticket")
    await expect(ticket_card.get_by_role("heading", name="Request registered")).to_be_focused()
    await expect(ticket_card).to_contain_text("WhatsApp · +393331234567")
    await expect(ticket_card).to_contain_text("We are also sending you the confirmation on WhatsApp")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")  # "Got it"
    await expect(ticket_card).to_have_count(0)
    assert await widget.focus_path() == "panel:sp-input"
    await screenshot(page, "widget-contact-keyboard")
    assert not errors, errors
    await ctx.close()


async def queue_entry(live: ThreadServer, conv_id: str) -> QueueEntry:
    async def work(rt: Any) -> QueueEntry:
        async with rt.db.scope() as session:
            rows = await session.execute(
                select(QueueEntry).where(QueueEntry.conversation_id == uuid.UUID(conv_id))
                .order_by(QueueEntry.enqueued_at.desc())
            )
            entry: QueueEntry = rows.scalars().first()
            session.expunge(entry)
            return entry

    entry: QueueEntry = await in_server(live, work)
    return entry


async def fire_wait_timeout(live: ThreadServer, conv_id: str) -> None:
    """Move the entry's wait deadline into the past: the server's ticker does the rest."""

    async def work(rt: Any) -> None:
        async with rt.db.scope() as session:
            entry = (
                await session.execute(
                    select(QueueEntry).where(
                        QueueEntry.conversation_id == uuid.UUID(conv_id),
                        QueueEntry.state == EntryState.WAITING.value,
                    )
                )
            ).scalar_one()
            entry.wait_deadline_at = utc_now() - timedelta(seconds=1)

    await in_server(live, work)


async def test_queue_timeout_keep_waiting_then_leave_a_contact(browser: Any, live: ThreadServer) -> None:
    """The wait time-out asks; keeping the place goes on with live positions, leaving opens the form."""
    sara = await in_server(live, lambda rt: make_operator(rt, "sara@example.com", name="Sara", max_chats=1))
    await in_server(live, lambda rt: go_online(rt, sara))
    token = await staff_token(live)
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        # Sara takes a first visitor (her only slot); a second one waits ahead of our widget visitor.
        first = await open_conversation(http, language="it")
        r = await http.post(f"/api/v1/conversations/{first['id']}/handoff", headers=auth(first["token"]))
        assert r.json()["outcome"] == "queued", r.text
        r = await http.post("/api/v1/auth/login", json={"email": "sara@example.com", "password": PASSWORD})
        sara_token = r.json()["token"]
        r = await http.post(f"/api/v1/conversations/{first['id']}/accept", headers=auth(sara_token))
        assert r.status_code == 200, r.text
        ahead = await open_conversation(http, language="it")
        r = await http.post(f"/api/v1/conversations/{ahead['id']}/handoff", headers=auth(ahead["token"]))
        assert (r.json()["outcome"], r.json()["position"]) == ("queued", 1), r.text

    ctx = await browser.new_context(viewport=PHONE, locale="it-IT", is_mobile=True, has_touch=True)
    page = await ctx.new_page()
    errors = watch_errors(page)
    widget = Widget(page, live)
    await widget.goto("/")
    await widget.open()
    await widget.send(ASK)
    await expect(widget.subtitle).to_have_text("In attesa di un operatore", timeout=15_000)
    await expect(widget.queue).to_contain_text("Posizione 2")
    conv_id = (await widget.stored())["id"]

    await fire_wait_timeout(live, conv_id)
    choice = widget.cards.locator(".card.choice")
    await expect(choice).to_be_visible()
    await expect(choice.get_by_role("heading", name="Vuoi continuare ad aspettare?")).to_be_focused()
    await expect(widget.messages("system", "Ci scusiamo per l'attesa")).to_have_count(1)
    await screenshot(page, "widget-queue-timeout-360")
    # A reload asks again (the server still waits for the answer).
    await reload(widget)
    await expect(choice).to_be_visible()
    await expect(widget.queue).to_contain_text("Posizione 2")

    await choice.get_by_role("button", name="Continua ad aspettare").click()
    await expect(choice).to_have_count(0)
    await expect(widget.input).to_be_focused()
    entry = await queue_entry(live, conv_id)
    assert entry.state == EntryState.WAITING.value and entry.wait_deadline_at is not None
    assert entry.wait_deadline_at > utc_now() + timedelta(seconds=200)  # the clock restarted
    # Still in the queue, live: the visitor ahead leaves and the position moves up.
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        r = await http.post(f"/api/v1/conversations/{ahead['id']}/queue/leave", headers=auth(ahead["token"]))
        assert r.status_code == 204, r.text
    await expect(widget.queue).to_contain_text("Sei il prossimo!")

    await fire_wait_timeout(live, conv_id)
    await expect(choice).to_be_visible()
    await choice.get_by_role("button", name="Lascia un recapito").click()
    form = widget.cards.locator("form.contact")
    await expect(form.get_by_role("heading", name="Lasciaci un recapito")).to_be_focused()
    await expect(widget.queue).to_be_hidden()
    await expect(widget.subtitle).to_have_text("Lasciaci un recapito")
    entry = await queue_entry(live, conv_id)
    assert entry.state == EntryState.TIMED_OUT.value

    # A call back, at one of the slots the server offers (business hours).
    await form.get_by_text("Telefonata").click()
    slot = form.get_by_label("Quando ti chiamiamo?")
    await expect(slot).to_be_visible()
    options = await slot.locator("option").evaluate_all("els => els.map(e => e.value)")
    assert len(options) == 4
    await slot.select_option(options[1])
    await form.get_by_label("Numero di telefono").fill("333 765 4321")
    await form.get_by_role("button", name="Invia richiesta").click()
    await expect(form.locator("#sp-c-consent-err")).to_have_text("Serve il tuo consenso per poterti ricontattare.")
    await expect(form.get_by_label("Acconsento a essere ricontattato")).to_be_focused()
    await expect(slot).to_have_value(options[1])
    await page.keyboard.press("Space")
    await form.get_by_role("button", name="Invia richiesta").click()

    ticket_card = widget.cards.locator(".card.ticket")
    await expect(ticket_card).to_contain_text("Ti chiameremo")
    number = (await ticket_card.locator(".ticket-no").inner_text()).strip()
    ticket = await read_ticket(live, token, number)
    assert (ticket["contact_method"], ticket["phone"]) == ("phone", "+393337654321")
    assert ticket["callback_at"] is not None
    await expect(ticket_card.locator(".ticket-when")).to_have_text(await formatted(page, options[1], "it"))
    await expect(ticket_card).to_contain_text("Telefonata · +393337654321")
    assert not errors, errors
    await ctx.close()



@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_typed_contact_in_the_chat_ends_with_the_same_confirmation(page: Any, live: ThreadServer) -> None:
    """Putting the form away leaves the chat dialogue, whose last answer brings the ticket card."""
    widget = Widget(page, live)
    await widget.goto("/")
    await widget.open()
    await widget.send(ASK)
    form = widget.cards.locator("form.contact")
    await expect(form).to_be_visible(timeout=15_000)
    await form.get_by_role("button", name="Preferisco scrivere in chat").click()
    await expect(form).to_have_count(0)
    await expect(widget.input).to_be_focused()
    reopen = widget.cards.get_by_role("button", name="Lascia un recapito con il modulo")
    await expect(reopen).to_be_visible()

    menu = widget.messages("system", "Come preferisci essere ricontattato?")
    await menu.get_by_role("button", name="Email").click()
    await expect(widget.messages("system", "scrivi il tuo indirizzo email")).to_have_count(1)
    await widget.send("anna@esempio.it")
    await expect(widget.messages("system", "Acconsenti a essere ricontattato")).to_have_count(1)
    await widget.send("sì")
    ticket_card = widget.cards.locator(".card.ticket")
    await expect(ticket_card).to_contain_text("Email · anna@esempio.it")
    number = (await ticket_card.locator(".ticket-no").inner_text()).strip()
    await expect(widget.messages("system", f"Abbiamo aperto la richiesta {number}")).to_have_count(1)
    await expect(reopen).to_have_count(0)
