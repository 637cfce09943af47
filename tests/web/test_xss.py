"""Script payloads through every text a visitor or an operator can write, rendered in Chromium.

Visitor messages, operator replies, chat notes, ticket subjects, descriptions, notes and replies,
and operator names go in through the API; the widget and the dashboard (console, tickets, admin)
show them; nothing may run: no `window.__xss`, no dialog, no element made from the payload, no
`javascript:` link.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from sportello.operators.presence import connect
from tests.fixtures.browser import Widget, in_server
from tests.fixtures.clients import auth
from tests.fixtures.servers import ThreadServer
from tests.operators.helpers import PASSWORD, make_operator
from tests.web.test_dashboard import settings  # noqa: F401  (always open, fast ticker)

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]

PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    '<svg onload="window.__xss=3"></svg>',
    '"><img src=x onerror=alert(4)>',
    "javascript:window.__xss=5",
    '<a href="javascript:window.__xss=6">clicca</a>',
    '<iframe src="javascript:alert(7)"></iframe>',
    "https://x.example/\"onmouseover=\"window.__xss=8",
    "{{constructor.constructor('window.__xss=9')()}}",
    "<details open ontoggle=window.__xss=10>",
]
NAME = '<img src=x onerror="window.__xss=11">Eve'
WATCH = "window.__dialogs = []; window.alert = window.confirm = window.prompt = (m) => { window.__dialogs.push(String(m)); };"
BAD_ELEMENTS = "img[src='x'], script:not([src]), svg[onload], iframe, details[ontoggle], a[href^='javascript']"


async def assert_inert(page: Any, dialogs: list[str], *, shadow_host: str | None = None) -> None:
    assert await page.evaluate("window.__xss") is None
    assert await page.evaluate("window.__dialogs") == []
    assert dialogs == []
    if shadow_host:
        found = await page.evaluate(
            f"document.querySelector('{shadow_host}').shadowRoot.querySelectorAll(\"{BAD_ELEMENTS}\").length"
        )
    else:
        found = await page.evaluate(f"document.querySelectorAll(\"{BAD_ELEMENTS}\").length")
    assert found == 0


def dialog_log(page: Any) -> list[str]:
    seen: list[str] = []
    pending: set[Any] = set()

    def on_dialog(dialog: Any) -> None:
        seen.append(dialog.message)
        task = asyncio.ensure_future(dialog.dismiss())
        pending.add(task)
        task.add_done_callback(pending.discard)

    page.on("dialog", on_dialog)
    return seen


async def test_payloads_stay_text_in_widget_and_dashboard(browser: Any, context: Any, page: Any, live: ThreadServer) -> None:
    async def setup(rt: Any) -> Any:
        op_id = await make_operator(rt, "eve@example.com", name=NAME, role="admin")
        async with rt.db.scope() as session:
            await connect(session, op_id, None, presence_timeout=600)
        return op_id

    await in_server(live, setup)
    await context.add_init_script(WATCH)
    dialogs = dialog_log(page)

    # The visitor writes every payload in the widget.
    widget = Widget(page, live)
    await widget.goto("/")
    await widget.open()
    for text in PAYLOADS:
        await widget.send(text)
    await expect(widget.messages("visitor")).to_have_count(len(PAYLOADS), timeout=15_000)
    state = await widget.stored()

    async with httpx.AsyncClient(base_url=live.base_url) as http:
        login = await http.post("/api/v1/auth/login", json={"email": "eve@example.com", "password": PASSWORD})
        op = auth(login.json()["token"])
        await http.post(f"/api/v1/conversations/{state['id']}/handoff", headers=auth(state["token"]))
        for _ in range(100):
            accepted = await http.post(f"/api/v1/conversations/{state['id']}/accept", headers=op)
            if accepted.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert accepted.status_code == 200, accepted.text
        for text in PAYLOADS:
            sent = await http.post(f"/api/v1/conversations/{state['id']}/messages", json={"body": text}, headers=op)
            assert sent.status_code == 201, sent.text
            assert (await http.post(f"/api/v1/conversations/{state['id']}/notes", json={"body": text}, headers=op)).status_code == 201
        ticket = await http.post(
            "/api/v1/tickets", headers=op,
            json={"subject": PAYLOADS[0], "description": "\n".join(PAYLOADS), "contact_method": "email", "email": "c@example.com"},
        )
        assert ticket.status_code == 201, ticket.text
        number = ticket.json()["number"]
        for text in PAYLOADS[:4]:
            assert (await http.post(f"/api/v1/tickets/{number}/notes", json={"body": text}, headers=op)).status_code == 201
            assert (await http.post(f"/api/v1/tickets/{number}/replies", json={"body": text}, headers=op)).status_code == 201

    # The widget shows the operator's name and replies as text.
    await expect(widget.messages("operator")).to_have_count(len(PAYLOADS), timeout=15_000)
    await expect(widget.messages("operator").first).to_contain_text("<img src=x")
    await assert_inert(page, dialogs, shadow_host="sportello-widget")

    # The dashboard: the live chat with its notes, the ticket, the admin screen's operator list.
    dash = await context.new_page()
    dash_dialogs = dialog_log(dash)
    await dash.goto(live.base_url + "/dashboard")
    await dash.get_by_label("Email").fill("eve@example.com")
    await dash.get_by_label("Password").fill(PASSWORD)
    await dash.get_by_role("button", name="Accedi").click()
    await expect(dash.locator(".me-name")).to_have_text(NAME)
    transcript = dash.locator("#transcript")
    await expect(transcript.locator(".item.note")).to_have_count(len(PAYLOADS), timeout=15_000)
    await expect(transcript.locator(".from-visitor")).to_have_count(len(PAYLOADS))
    await assert_inert(dash, dash_dialogs)

    await dash.goto(f"{live.base_url}/dashboard/tickets")
    await expect(dash.locator("body")).to_contain_text(number)
    await assert_inert(dash, dash_dialogs)
    await dash.goto(f"{live.base_url}/dashboard/tickets/{number}")
    await expect(dash.locator("body")).to_contain_text("window.__xss=2")
    await assert_inert(dash, dash_dialogs)
    await dash.goto(f"{live.base_url}/dashboard/admin")
    await expect(dash.locator("main")).to_contain_text("Eve")
    await assert_inert(dash, dash_dialogs)
