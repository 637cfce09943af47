"""The chat widget in headless Chromium, against a real server."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from sportello.conversations import service
from sportello.conversations.models import ConversationStatus, Sender
from tests.fixtures.browser import Widget, in_server, screenshot, serve_html
from tests.fixtures.clients import auth
from tests.fixtures.servers import ThreadServer

pytestmark = pytest.mark.browser
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


async def stored_messages(live: ThreadServer, conv_id: str, token: str) -> list[dict[str, Any]]:
    """The visitor's messages as the server stored them (the assistant may answer in between)."""
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        response = await http.get(f"/api/v1/conversations/{conv_id}/messages", headers=auth(token))
        assert response.status_code == 200
        return [m for m in response.json() if m["sender"] == "visitor"]


async def without_assistant(live: ThreadServer) -> None:
    """Stop the assistant and contact dialogue answering, so a test can play their part."""

    async def work(rt: Any) -> None:
        rt.visitor_message_handlers.clear()

    await in_server(live, work)


async def test_widget_opens_sends_and_shows_the_ack_once(page: Any, live: ThreadServer) -> None:
    widget = Widget(page, live)
    await widget.goto("/")
    await expect(widget.launcher).to_have_attribute("aria-label", "Apri la chat di assistenza")
    await widget.open()
    await expect(widget.input).to_be_focused()
    await expect(page.locator("sportello-widget .welcome")).to_contain_text("Lucine di Natale")

    await widget.send("Quanto costa il biglietto serale?")
    sent = widget.messages("visitor", "Quanto costa il biglietto serale?")
    await expect(sent).to_have_count(1)
    await expect(sent).to_have_attribute("data-state", "sent")
    await expect(sent).to_have_attribute("data-seq", "1")
    await expect(sent).to_contain_text("Inviato")

    # Customer text is text: markup typed by a visitor is shown, never run.
    await widget.send('<img src=x onerror="window.pwned=1">')
    await expect(widget.messages("visitor", "<img src=x")).to_have_attribute("data-state", "sent")
    assert await page.locator("sportello-widget .log img").count() == 0
    assert await page.evaluate("window.pwned") is None

    state = await widget.stored()
    stored = await stored_messages(live, state["id"], state["token"])
    assert [m["body"] for m in stored] == ["Quanto costa il biglietto serale?", '<img src=x onerror="window.pwned=1">']
    assert all(m["client_message_id"].startswith("w-") for m in stored)
    assert state["outbox"] == [] and state["lastSeq"] >= 2
    await expect(widget.messages("visitor")).to_have_count(2)
    await screenshot(page, "widget-desktop")


@sqlite_only
async def test_reload_and_navigation_keep_the_conversation(page: Any, live: ThreadServer) -> None:
    widget = Widget(page, live)
    await widget.goto("/")
    await widget.open()
    await widget.send("Primo messaggio")
    await expect(widget.messages("visitor", "Primo messaggio")).to_have_attribute("data-state", "sent")
    first = await widget.stored()

    await page.reload()
    await expect(widget.panel).to_be_visible()  # the open panel stays open in this tab
    await expect(widget.messages("visitor", "Primo messaggio")).to_have_count(1)

    await widget.goto("/?pagina=biglietti")
    await expect(widget.messages("visitor", "Primo messaggio")).to_have_count(1)
    await widget.send("Secondo messaggio, da un'altra pagina")
    await expect(widget.messages("visitor", "Secondo messaggio")).to_have_attribute("data-state", "sent")
    second = await widget.stored()
    assert second["id"] == first["id"]
    stored = await stored_messages(live, first["id"], first["token"])
    assert [m["body"] for m in stored] == ["Primo messaggio", "Secondo messaggio, da un'altra pagina"]


@sqlite_only
async def test_network_drop_then_replay_and_resend(page: Any, context: Any, live: ThreadServer) -> None:
    widget = Widget(page, live)
    await widget.goto("/")
    await widget.open()
    await widget.send("Prima del guasto")
    await expect(widget.messages("visitor", "Prima del guasto")).to_have_attribute("data-state", "sent")
    state = await widget.stored()

    await context.set_offline(True)
    await expect(widget.root).to_have_attribute("data-conn", "offline")
    await expect(page.locator("sportello-widget .conn")).to_contain_text("offline")
    await widget.send("Scritto senza rete")
    offline_msg = widget.messages("visitor", "Scritto senza rete")
    await expect(offline_msg).to_have_attribute("data-state", "pending")
    assert [i["body"] for i in (await widget.stored())["outbox"]] == ["Scritto senza rete"]
    # Meanwhile the conversation moves on elsewhere (another tab, through REST).
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        for n in (1, 2):
            response = await http.post(
                f"/api/v1/conversations/{state['id']}/messages",
                json={"body": f"Da un'altra scheda {n}", "client_message_id": f"rest-{n}"},
                headers=auth(state["token"]),
            )
            assert response.status_code == 201
    await page.wait_for_timeout(300)
    await expect(widget.messages(text="Da un'altra scheda")).to_have_count(0)

    await context.set_offline(False)
    await expect(offline_msg).to_have_attribute("data-state", "sent")
    for body in ("Prima del guasto", "Da un'altra scheda 1", "Da un'altra scheda 2", "Scritto senza rete"):
        await expect(widget.messages(text=body)).to_have_count(1)
    await expect(widget.root).to_have_attribute("data-conn", "online")
    stored = await stored_messages(live, state["id"], state["token"])
    assert [m["body"] for m in stored] == [
        "Prima del guasto",
        "Da un'altra scheda 1",
        "Da un'altra scheda 2",
        "Scritto senza rete",
    ]
    seqs = await widget.messages("visitor").evaluate_all("els => els.map(e => Number(e.dataset.seq))")
    assert seqs == [m["seq"] for m in stored]
    assert (await widget.stored())["outbox"] == []


@sqlite_only
async def test_keyboard_only(page: Any, live: ThreadServer) -> None:
    widget = Widget(page, live)
    await widget.goto("/")
    for _ in range(30):
        await page.keyboard.press("Tab")
        if await widget.focus_path() == "launcher":
            break
    else:
        pytest.fail("Tab never reached the chat launcher")
    await page.keyboard.press("Enter")
    await expect(widget.panel).to_be_visible()
    assert await widget.focus_path() == "panel:sp-input"
    await page.keyboard.type("Posso pagare alla cassa?")
    await page.keyboard.press("Enter")
    await expect(widget.messages("visitor", "Posso pagare alla cassa?")).to_have_attribute("data-state", "sent")

    # The focus stays inside the open panel, both ways round.
    seen = set()
    for key in ["Tab"] * 8 + ["Shift+Tab"] * 8:
        await page.keyboard.press(key)
        where = await widget.focus_path()
        assert where.startswith("panel:"), f"{key} moved the focus out of the panel to {where}"
        seen.add(where)
    assert len(seen) >= 3
    await screenshot(page, "widget-keyboard-focus")

    await page.keyboard.press("Escape")
    await expect(widget.panel).to_be_hidden()
    assert await widget.focus_path() == "launcher"
    await expect(widget.launcher).to_have_attribute("aria-expanded", "false")
    await page.keyboard.press("Enter")
    await expect(widget.panel).to_be_visible()
    await expect(widget.messages("visitor", "Posso pagare alla cassa?")).to_have_count(1)


@sqlite_only
async def test_language_switch_and_detection(page: Any, live: ThreadServer) -> None:
    widget = Widget(page, live)
    await widget.goto("/")  # <html lang="it">
    await widget.open()
    await expect(widget.input).to_have_attribute("placeholder", "Scrivi un messaggio…")
    switch = page.locator("sportello-widget .lang")
    await expect(switch).to_have_text("English")
    await switch.click()
    await expect(widget.input).to_have_attribute("placeholder", "Type a message…")
    await expect(page.locator("sportello-widget .welcome")).to_contain_text("ask me about tickets")
    await expect(widget.panel).to_have_attribute("lang", "en")
    await expect(switch).to_be_focused()

    await page.reload()  # the visitor's choice is remembered
    await expect(widget.input).to_have_attribute("placeholder", "Type a message…")
    await switch.click()
    await expect(widget.launcher).to_have_attribute("aria-label", "Chiudi la chat")

    # Without a choice: data attribute, then <html lang>, then the browser's language.
    await page.evaluate("localStorage.clear(); sessionStorage.clear()")
    for html_lang, attribute, expected in [
        ("it", ' data-sportello-language="en"', "Open the support chat"),
        ("en", "", "Open the support chat"),
        ("", "", "Apri la chat di assistenza"),  # the context's locale is it-IT
    ]:
        await serve_page(page, live, f"/prova-{expected[:4]}-{html_lang}", html_lang=html_lang, script_attrs=attribute)
        await expect(widget.launcher).to_have_attribute("aria-label", expected)


async def serve_page(
    page: Any, live: ThreadServer, path: str, *, html_lang: str = "it", script_attrs: str = "", head: str = ""
) -> None:
    """Open a page of the shop's origin with custom markup around the one-tag embed."""
    lang_attr = f' lang="{html_lang}"' if html_lang else ""
    html = f"""<!doctype html><html{lang_attr}><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">{head}
<script src="/widget.js"{script_attrs} async></script></head>
<body><h1 class="title">Negozio</h1><p class="msg">Testo del negozio</p><button class="launcher">Compra</button></body></html>"""
    serve_html(live, path, html)
    await page.goto(live.base_url + path)
    await page.locator("sportello-widget .launcher").wait_for()


@sqlite_only
async def test_usable_at_360_pixels(browser: Any, live: ThreadServer) -> None:
    ctx = await browser.new_context(viewport={"width": 360, "height": 740}, locale="it-IT", device_scale_factor=2, has_touch=True)
    try:
        page = await ctx.new_page()
        widget = Widget(page, live)
        await widget.goto("/")
        await screenshot(page, "shop-mobile-360")
        await widget.open()
        await widget.send("Il parcheggio è gratuito? Arriviamo in camper con due bambini piccoli.")
        await expect(widget.messages("visitor")).to_have_attribute("data-state", "sent")
        # The panel's 180 ms slide-in may still be running when the echo comes back that fast.
        await page.evaluate("() => document.querySelector('sportello-widget').shadowRoot.getAnimations().forEach(a => a.finish())")
        box = await widget.panel.bounding_box()
        assert box is not None and box["x"] == 0 and box["width"] == 360 and box["height"] == 740
        overflow = await page.evaluate(
            """() => { const r = document.querySelector('sportello-widget').shadowRoot;
                       const log = r.querySelector('.log'), form = r.querySelector('.composer');
                       return [log.scrollWidth - log.clientWidth, form.scrollWidth - form.clientWidth]; }"""
        )
        assert overflow == [0, 0]
        send = await page.locator("sportello-widget .send").bounding_box()
        assert send is not None and send["x"] + send["width"] <= 360 and send["width"] >= 40
        await screenshot(page, "widget-mobile-360")
    finally:
        await ctx.close()


HOSTILE_CSS = """<style>
*, *::before, *::after { all: unset !important; font: italic 31px/3 "Comic Sans MS", cursive !important;
  color: #0f0 !important; background: #f0f !important; border: 7px dashed red !important;
  padding: 13px !important; margin: 9px !important; letter-spacing: 4px !important;
  text-transform: uppercase !important; box-sizing: content-box !important; }
html, body { display: block !important; transform: translateZ(0) !important; }
div, section, button, textarea, p, span, form, header { display: inline !important; width: 5px !important;
  position: static !important; visibility: hidden !important; opacity: .1 !important; }
sportello-widget { display: none !important; position: absolute !important; transform: scale(.2) !important; }
:root { --accent: lime; --ink: red; }
</style>"""

PROBE = """() => {
  const r = document.querySelector('sportello-widget').shadowRoot;
  r.getAnimations().forEach(a => a.finish());
  const pick = (sel, props) => { const el = r.querySelector(sel); const cs = getComputedStyle(el);
    const b = el.getBoundingClientRect();
    return [sel, Math.round(b.x), Math.round(b.y), Math.round(b.width), Math.round(b.height), ...props.map(p => cs[p])]; };
  return [pick('.launcher', ['backgroundColor', 'borderRadius', 'visibility', 'opacity']),
          pick('.panel', ['backgroundColor', 'fontFamily', 'fontSize', 'display']),
          pick('.title', ['color', 'fontStyle', 'textTransform', 'letterSpacing']),
          pick('#sp-input', ['fontSize', 'borderTopStyle', 'paddingLeft', 'backgroundColor']),
          pick('.welcome .bubble', ['fontFamily', 'lineHeight', 'backgroundColor', 'color'])];
}"""


@sqlite_only
async def test_hostile_shop_css_does_not_leak_either_way(page: Any, live: ThreadServer) -> None:
    widget = Widget(page, live)
    await serve_page(page, live, "/plain")
    await widget.open()
    await page.mouse.move(400, 10)
    plain = await page.evaluate(PROBE)
    await serve_page(page, live, "/hostile", head=HOSTILE_CSS)
    await widget.open()
    await expect(widget.launcher).to_be_visible()
    await page.mouse.move(400, 10)
    assert await page.evaluate(PROBE) == plain
    await widget.send("Ancora leggibile?")
    await expect(widget.messages("visitor")).to_have_attribute("data-state", "sent")
    await screenshot(page, "widget-hostile-css")

    # And the widget changes nothing on the shop's page.
    shop_probe = """() => [...document.querySelectorAll('body, .shop-header h1, .product, .buy, .price, .help')]
        .map(el => { const cs = getComputedStyle(el); return [el.className, cs.fontFamily, cs.fontSize, cs.color,
                     cs.backgroundColor, cs.margin, cs.padding, el.getBoundingClientRect().width]; })"""
    await page.route(live.base_url + "/widget.js", lambda route: route.abort())
    await page.goto(live.base_url + "/")
    without = await page.evaluate(shop_probe)
    await page.unroute(live.base_url + "/widget.js")
    await widget.goto("/")
    await widget.open()
    assert await page.evaluate(shop_probe) == without


@sqlite_only
async def test_resume_from_link_in_a_fresh_browser(browser: Any, live: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        conv = (await http.post("/api/v1/conversations", json={"language": "it"})).json()
        for n, body in enumerate(["Ho comprato due biglietti", "Ma non mi è arrivata l'email"]):
            await http.post(
                f"/api/v1/conversations/{conv['id']}/messages",
                json={"body": body, "client_message_id": f"email-{n}"},
                headers=auth(conv["token"]),
            )
    ctx = await browser.new_context(locale="it-IT")
    try:
        page = await ctx.new_page()
        widget = Widget(page, live)
        await widget.goto(f"/?utm_source=email&sportello_resume={conv['id']}&sportello_token={conv['token']}")
        await expect(widget.panel).to_be_visible()
        await expect(widget.messages("visitor")).to_have_count(2)
        await expect(widget.messages("visitor", "Ho comprato due biglietti")).to_have_attribute("data-seq", "1")
        assert "sportello_token" not in page.url and "utm_source=email" in page.url
        assert (await widget.stored())["id"] == conv["id"]
        await widget.send("Eccomi di nuovo")
        await expect(widget.messages("visitor", "Eccomi di nuovo")).to_have_attribute("data-state", "sent")
        assert [m["body"] for m in await stored_messages(live, conv["id"], conv["token"])][-1] == "Eccomi di nuovo"

        # A bad link says so, and leaves the current conversation alone.
        await widget.goto(f"/?sportello_resume={uuid.uuid4()}&sportello_token=nope")
        await expect(page.locator("sportello-widget .local-notice")).to_contain_text("non è valido")
        await expect(widget.messages("visitor", "Eccomi di nuovo")).to_have_count(1)
        assert (await widget.stored())["id"] == conv["id"]
    finally:
        await ctx.close()


async def _conversation_of(widget: Widget) -> tuple[uuid.UUID, str]:
    state = await widget.stored()
    return uuid.UUID(state["id"]), state["token"]


def say(conv_id: uuid.UUID, sender: Sender, body: str, meta: dict[str, Any] | None = None) -> Any:
    async def work(rt: Any) -> None:
        async with rt.db.scope() as session:
            conv = await service.get_conversation(session, conv_id)
            await service.append_message(session, conv, sender=sender, body=body, meta=meta or {})

    return work


def move(conv_id: uuid.UUID, status: ConversationStatus) -> Any:
    async def work(rt: Any) -> None:
        async with rt.db.scope() as session:
            conv = await service.get_conversation(session, conv_id)
            await service.transition(session, conv, status)

    return work


def publish(conv_id: uuid.UUID, event: dict[str, Any]) -> Any:
    async def work(rt: Any) -> None:
        await rt.bus.publish(service.conversation_channel(conv_id), {**event, "conversation_id": str(conv_id)})

    return work


@sqlite_only
async def test_assistant_handoff_queue_operator_and_rating(page: Any, live: ThreadServer) -> None:
    """The frames the assistant and handoff send, produced here through the services."""
    await without_assistant(live)
    widget = Widget(page, live)
    await widget.goto("/")
    await widget.open()
    await widget.send("Posso portare il cane?")
    await expect(widget.messages("visitor")).to_have_attribute("data-state", "sent")
    conv_id, _ = await _conversation_of(widget)

    await in_server(live, say(conv_id, Sender.ASSISTANT, "Sì, i cani al guinzaglio sono i benvenuti.", {
        "topic_id": "animali", "confidence": 0.91, "intent": "question",
        "quick_replies": [{"label": "Orari", "action": "message:Quali sono gli orari?"},
                          {"label": "Parla con un operatore", "action": "handoff"}],
    }))
    answer = widget.messages("assistant", "cani al guinzaglio")
    await expect(answer).to_have_count(1)
    await expect(answer.locator(".who")).to_have_text("Assistente")
    await expect(answer.locator(".chip")).to_have_text(["Orari", "Parla con un operatore"])
    await screenshot(page, "widget-assistant-quick-replies")
    await answer.get_by_role("button", name="Parla con un operatore").click()
    await expect(widget.messages("visitor", "Vorrei parlare con un operatore")).to_have_attribute("data-state", "sent")

    await in_server(live, move(conv_id, ConversationStatus.QUEUED))
    await expect(widget.subtitle).to_have_text("In attesa di un operatore")
    await expect(answer.locator(".quick")).to_be_hidden()
    await in_server(live, publish(conv_id, {"type": "queue.position_changed", "position": 3, "estimated_wait_seconds": 250}))
    await expect(widget.queue).to_contain_text("Posizione 3")
    await expect(widget.queue).to_contain_text("circa 4 min")
    await screenshot(page, "widget-queue")
    await in_server(live, publish(conv_id, {"type": "queue.position_changed", "position": 1, "estimated_wait_seconds": 20}))
    await expect(widget.queue).to_contain_text("Sei il prossimo!")
    await expect(widget.queue).to_contain_text("meno di un minuto")

    await in_server(live, move(conv_id, ConversationStatus.ASSIGNED))
    await in_server(live, publish(conv_id, {"type": "operator.joined", "operator": {"name": "Marta"}}))
    await in_server(live, move(conv_id, ConversationStatus.LIVE))
    await expect(widget.subtitle).to_have_text("In chat con Marta")
    await expect(widget.queue).to_have_text("Marta ti sta rispondendo")
    await in_server(live, publish(conv_id, {"type": "typing", "sender": "operator", "operator_name": "Marta"}))
    await expect(widget.typing).to_have_text("Marta sta scrivendo…")
    await in_server(live, say(conv_id, Sender.OPERATOR, "Ciao, sono Marta: il cane può entrare."))
    operator = widget.messages("operator", "sono Marta")
    await expect(operator.locator(".who")).to_have_text("Marta")
    await expect(widget.typing).to_be_hidden()
    await widget.send("Grazie mille!")
    await expect(widget.messages("visitor", "Grazie mille!")).to_have_attribute("data-state", "sent")
    await screenshot(page, "widget-live-operator")

    await in_server(live, move(conv_id, ConversationStatus.CLOSED))
    rating = widget.cards.locator("form.rating")
    await expect(rating).to_be_visible()
    await expect(widget.input).to_be_hidden()
    await rating.get_by_role("button", name="Invia valutazione").click()
    await expect(rating).to_contain_text("Scegli un punteggio da 1 a 5.")
    await rating.locator("label[for=sp-score-4]").click()
    await rating.get_by_label("Commento (facoltativo)").fill("Gentilissima")
    await screenshot(page, "widget-rating")
    # The server refuses (here: this test's chat never had a real operator): no fake thanks.
    answers = iter([409, 204])
    sent: list[Any] = []

    async def rating_endpoint(route: Any) -> None:
        sent.append(route.request.post_data_json)
        await route.fulfill(status=next(answers), body="")

    await page.route(f"{live.base_url}/api/v1/conversations/{conv_id}/rating", rating_endpoint)
    await rating.get_by_role("button", name="Invia valutazione").click()
    await expect(widget.cards).to_contain_text("Non siamo riusciti a inviare la valutazione")
    await rating.get_by_role("button", name="Invia valutazione").click()
    await expect(widget.cards).to_contain_text("Grazie per la valutazione!")
    assert sent == [{"rating": 4, "comment": "Gentilissima"}] * 2
    await widget.cards.get_by_role("button", name="Nuova conversazione").click()
    await expect(widget.input).to_be_focused()
    await expect(widget.messages()).to_have_count(0)


@sqlite_only
async def test_closed_hours_message_shows_the_next_opening(page: Any, live: ThreadServer) -> None:
    await without_assistant(live)
    widget = Widget(page, live)
    await widget.goto("/")
    await widget.open()
    await widget.send("C'è qualcuno?")
    await expect(widget.messages("visitor")).to_have_attribute("data-state", "sent")
    conv_id, _ = await _conversation_of(widget)
    await in_server(live, say(conv_id, Sender.SYSTEM, "Gli operatori ora non sono disponibili.",
                              {"next_opening": "2030-12-02T08:00:00+00:00"}))
    notice = widget.messages("system", "non sono disponibili")
    await expect(notice.locator(".next-opening")).to_contain_text("Riapriamo lunedì 2 dicembre")
    await page.locator("sportello-widget .lang").click()
    await expect(notice.locator(".next-opening")).to_contain_text("We reopen Monday, December 2")
    await screenshot(page, "widget-closed-hours")
