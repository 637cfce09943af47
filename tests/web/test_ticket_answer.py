"""Nobody online, end to end in headless Chromium: the visitor's ticket, found and answered in the dashboard.

The visitor leaves an email in the widget and gets a ticket number; an operator finds the ticket
in the dashboard's list, reads the whole conversation and answers; the answer reaches the
visitor in the open widget and by email (through the outbox worker of the live server and a
real SMTP server), in the visitor's language, with a reopen link that brings the conversation
back on another device.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from sportello.config import Settings
from tests.fixtures.backends import Backend
from tests.fixtures.browser import DESKTOP, Widget, in_server, screenshot, watch_errors
from tests.fixtures.clients import auth
from tests.fixtures.servers import ThreadServer, free_port
from tests.fixtures.smtp_server import Received, SmtpServer
from tests.operators.helpers import PASSWORD, make_operator
from tests.web.test_dashboard import load_demo_kb, log_in

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 640}
EMAIL = "mary.jones@esempio.it"
QUESTION = "I never got the email with my tickets for the 12 December evening"
ANSWER = (
    "Hello Mary, I have just sent the tickets for 12 December again to mary.jones@esempio.it: "
    "they are in the attachment, with the QR codes to show at the entrance."
)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(backend: Backend, tmp_path: Path, smtp: SmtpServer, port: int) -> Settings:
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
        # The links in the emails point at this very server.
        public_url=f"http://127.0.0.1:{port}",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        smtp_from="Lucine di Natale <aiuto@lucine.test>",
        limit_conversations_per_address_hour=10_000,
        limit_messages_per_conversation_minute=10_000,
        limit_ws_frames_per_second=10_000,
    )


@pytest.fixture
def live(settings: Settings, port: int) -> Iterator[ThreadServer]:
    """The app on uvicorn with its outbox worker and ticker running, as `sportello serve` runs it."""
    server = ThreadServer(settings, port=port).start()
    yield server
    server.stop()


async def mail_to(smtp: SmtpServer, recipient: str, subject: str, timeout: float = 20.0) -> Received:
    """The first email to `recipient` whose subject contains `subject`, as the SMTP server got it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for received in smtp.messages:
            if recipient in received.recipients and subject in str(received.message["Subject"]):
                return received
        await asyncio.sleep(0.1)
    got = [(m.recipients, str(m.message["Subject"])) for m in smtp.messages]
    pytest.fail(f"no email to {recipient} about {subject!r} within {timeout}s; received: {got}")


async def other_tickets(live: ThreadServer, email: str) -> None:
    """Two unrelated tickets, so that finding the visitor's one takes the search."""
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        r = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        headers = auth(r.json()["token"])
        for body in (
            {"contact_method": "phone", "phone": "+39 333 1234567", "subject": "Parcheggio per disabili",
             "description": "Chiede se c'è un parcheggio riservato vicino all'ingresso."},
            {"contact_method": "email", "email": "luca@esempio.it", "subject": "Cambio data biglietti",
             "description": "Vuole spostare 4 biglietti dal 12 al 20 dicembre."},
        ):
            r = await http.post("/api/v1/tickets", json=body, headers=headers)
            assert r.status_code == 201, r.text


async def test_nobody_online_ticket_found_answered_and_delivered(
    browser: Any, live: ThreadServer, smtp: SmtpServer
) -> None:
    """Contact form → ticket N → the operator finds N, reads it all, answers → widget, email, reopen link."""
    await load_demo_kb(live)
    await in_server(live, lambda rt: make_operator(rt, "sara@example.com", name="Sara Rossi"))
    await other_tickets(live, "sara@example.com")  # Sara is offline until she opens the dashboard

    # The visitor, on the (Italian) demo shop, switches the widget to English and asks.
    visitor_ctx = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    visitor_page = await visitor_ctx.new_page()
    visitor_errors = watch_errors(visitor_page)
    widget = Widget(visitor_page, live)
    await widget.goto("/")
    await widget.open()
    await widget.panel.get_by_role("button", name="Switch to English").click()
    await expect(widget.subtitle).to_have_text("Virtual assistant")
    await widget.send(QUESTION)
    answer = widget.messages("assistant").last
    await expect(answer).to_contain_text("spam", timeout=15_000)
    await answer.get_by_role("button", name="Talk to a person").click()

    # Nobody is online: the contact form, an email, the ticket confirmation with its number.
    form = widget.cards.locator("form.contact")
    await expect(form.get_by_role("heading", name="Leave us a contact")).to_be_visible(timeout=15_000)
    await form.get_by_label("Email address").fill(EMAIL)
    await form.get_by_label("I agree to be contacted").check()
    await form.get_by_role("button", name="Send request").click()
    ticket_card = widget.cards.locator(".card.ticket")
    await expect(ticket_card.get_by_role("heading", name="Request registered")).to_be_focused()
    number = (await ticket_card.locator(".ticket-no").inner_text()).strip()
    assert re.fullmatch(r"[A-Z]+-\d{6}", number), number
    await expect(ticket_card).to_contain_text(f"Email · {EMAIL}")
    await expect(ticket_card).to_contain_text("We are also sending you the confirmation by email")
    opened = await mail_to(smtp, EMAIL, number)
    assert str(opened.message["Subject"]) == f"Your request {number} has been received"

    # The operator logs in (on her own computer) and finds the ticket: first by the visitor's words.
    op_ctx = await browser.new_context(viewport=DESKTOP, locale="it-IT")
    op_page = await op_ctx.new_page()
    op_errors = watch_errors(op_page)
    await log_in(op_page, live, "sara@example.com")
    await op_page.get_by_role("link", name="Ticket", exact=True).click()
    rows = op_page.locator(".tickets-table tbody tr")
    await expect(rows).to_have_count(3)
    search = op_page.get_by_label("Cerca", exact=True)
    await search.fill("12 december")
    await search.press("Enter")
    await expect(rows).to_have_count(1)
    row = rows.first
    await expect(row.get_by_role("link", name=number)).to_be_visible()
    await expect(row).to_contain_text(QUESTION)  # the subject: the visitor's question
    await expect(row.locator(".badge.status-open")).to_have_text("Aperto")
    await expect(row.locator(".badge.sla")).to_have_attribute("data-state", "ok")
    await expect(row.locator(".badge.sla")).to_have_text("In tempo")
    await expect(row).to_contain_text("Non assegnato")
    # By its number, as the visitor would quote it on the phone (any case).
    await search.fill(number.lower())
    await search.press("Enter")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-number", number)

    # The whole conversation, every message in order, as the visitor's own API lists it.
    await rows.first.get_by_role("link", name=number).click()
    await expect(op_page.get_by_role("heading", level=1)).to_contain_text(number)
    state = await widget.stored()
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        r = await http.get(f"/api/v1/conversations/{state['id']}/messages", headers=auth(state["token"]))
        assert r.status_code == 200, r.text
        listed = [m["body"] for m in r.json()]
    assert QUESTION in listed and any(f"request {number}" in b for b in listed), listed
    items = op_page.locator(".transcript.static > li")
    await expect(items).to_have_count(len(listed))
    shown = await items.evaluate_all(
        "els => els.map(li => (li.querySelector('.body') || li.querySelector('span')).textContent)"
    )
    assert shown == listed
    await expect(op_page.locator(".transcript .from-visitor").first).to_contain_text(QUESTION)
    await expect(op_page.locator(".detail-side")).to_contain_text(EMAIL)
    await expect(op_page.locator(".detail-side dd", has_text=re.compile(r"^EN$"))).to_have_count(1)

    # She answers the customer.
    await op_page.get_by_label("Rispondi al cliente").fill(ANSWER)
    await op_page.locator("form", has=op_page.get_by_label("Rispondi al cliente")).get_by_role(
        "button", name="Invia"
    ).click()
    await expect(op_page.locator("#toasts")).to_contain_text("Risposta inviata.")
    mine = op_page.locator(".transcript .from-operator", has_text="sent the tickets for 12 December again")
    await expect(mine).to_have_count(1)
    await expect(mine.locator(".who")).to_contain_text("Sara Rossi")
    await expect(mine).to_be_in_viewport(ratio=1)  # the conversation scrolled to the newest message
    await expect(items).to_have_count(len(listed) + 1)
    await expect(op_page.locator(".page-head .badge.status-in_progress")).to_have_text("In lavorazione")
    await expect(op_page.locator(".history")).to_contain_text("Aperto → In lavorazione")
    await expect(op_page.locator(".detail-side")).to_contain_text("✓")  # first response given
    await expect(op_page.get_by_label("Rispondi al cliente")).to_have_value("")
    await screenshot(op_page, "dashboard-ticket-answered")

    # The visitor's page is still open: the answer appears in the widget, with Sara's name.
    reply = widget.messages("operator", "sent the tickets for 12 December again")
    await expect(reply).to_have_count(1)
    await expect(reply).to_contain_text("Sara Rossi")
    await expect(widget.messages("visitor", QUESTION)).to_have_count(1)
    # The answer keeps the confirmation's promise: the card makes room for it, the focus goes on.
    await expect(ticket_card).to_have_count(0)
    await expect(widget.input).to_be_focused()
    await expect(reply).to_be_in_viewport(ratio=1)
    await screenshot(visitor_page, "widget-ticket-answer")
    await visitor_page.reload()
    await widget.open()
    await expect(reply).to_have_count(1)
    await expect(widget.cards.locator(".card")).to_have_count(0)

    # And by email, in English, with the answer and a link to pick the conversation up again.
    mail = await mail_to(smtp, EMAIL, f"New reply to your request {number}")
    plain = mail.body("plain")
    assert "Sara Rossi replied to your request" in plain, plain
    assert ANSWER in plain, plain
    assert "Ciao" not in plain and "risposto" not in plain, plain
    links = re.findall(rf"{re.escape(live.base_url)}/r/\S+", plain)
    assert len(links) == 1, plain
    assert f'href="{links[0]}"' in mail.body("html")
    assert ANSWER in mail.body("html")
    assert not visitor_errors, visitor_errors
    await visitor_ctx.close()

    # The reopen link, opened on the visitor's phone, brings back the whole conversation.
    phone_ctx = await browser.new_context(viewport=PHONE, locale="en-GB", is_mobile=True, has_touch=True)
    phone_page = await phone_ctx.new_page()
    phone_errors = watch_errors(phone_page)
    phone = Widget(phone_page, live)
    await phone_page.goto(links[0])
    await expect(phone.panel).to_be_visible()
    await expect(phone.messages("operator", "sent the tickets for 12 December again")).to_have_count(1)
    await expect(phone.messages("visitor", QUESTION)).to_have_count(1)
    assert "sportello_token" not in phone_page.url
    # The conversation is in English, and so is the widget that resumes it.
    await expect(phone.subtitle).to_have_text("Virtual assistant")
    await screenshot(phone_page, "widget-reopen-link-360")
    # A used link does not open the conversation a second time.
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        again = await http.get(links[0], headers={"Accept-Language": "en"})
        assert again.status_code == 410, again.text
    assert not phone_errors and not op_errors, (phone_errors, op_errors)
    await phone_ctx.close()
    await op_ctx.close()
