"""Notification preferences, the push service worker and live SLA alerts, in headless Chromium."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import select

from sportello.config import Settings
from sportello.notifications import service as notifications
from sportello.notifications.models import PushSubscription
from sportello.timeutil import utc_now
from tests.fixtures.backends import Backend
from tests.fixtures.browser import in_server, screenshot
from tests.fixtures.servers import ThreadServer
from tests.web.test_dashboard import add_operator, log_in

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]

# Headless Chromium has no push service to subscribe with: this stands in for the browser's
# PushManager only (the service worker, the key and the server calls are the real ones).
FAKE_PUSH_SERVICE = """
window.__subscribeCalls = [];
PushManager.prototype.subscribe = async function (options) {
  const key = Array.from(new Uint8Array(options.applicationServerKey));
  window.__subscribeCalls.push({ userVisibleOnly: options.userVisibleOnly, key });
  const endpoint = 'https://push.example.test/send/' + Math.random().toString(36).slice(2);
  return {
    endpoint,
    toJSON: () => ({ endpoint, keys: {
      p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
      auth: 'tBHItJI5svbpez7KI4CCXg' } }),
    unsubscribe: async () => true,
  };
};
"""


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    """As the dashboard tests', but the test drives the ticker's SLA pass with its own clock."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=backend.database_url,
        redis_url=backend.redis_url,
        redis_prefix=f"sportello-test-{uuid.uuid4().hex[:10]}",
        secret_key=f"test-{uuid.uuid4().hex}",
        assistant_semantic=False,
        opening_hours="always",
        ticker_enabled=False,
        limit_conversations_per_address_hour=10_000,
        limit_messages_per_conversation_minute=10_000,
        limit_ws_frames_per_second=10_000,
    )


async def until(check: Callable[[], Awaitable[Any] | Any], timeout: float = 15.0) -> Any:
    """Poll `check` until it returns something truthy (Playwright's Python API has no expect.poll)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still falsy after {timeout} s: {value!r}")
        await asyncio.sleep(0.05)


async def _preferences(live: ThreadServer, op_id: uuid.UUID) -> dict[str, dict[str, bool]]:
    async def work(rt: Any) -> dict[str, dict[str, bool]]:
        async with rt.db.scope() as session:
            return await notifications.preferences(session, op_id)

    result: dict[str, dict[str, bool]] = await in_server(live, work)
    return result


async def test_operator_sets_channels_per_event_in_italian_and_english(
    page: Any, live: ThreadServer
) -> None:
    sara = await add_operator(live, "sara@example.com", name="Sara Rossi")
    await log_in(page, live, "sara@example.com")
    await page.get_by_role("link", name="Notifiche").click()
    await expect(page.get_by_role("heading", name="Notifiche", exact=True)).to_be_visible()
    waiting_push = page.get_by_label("Chat in attesa da troppo tempo: Push")
    waiting_email = page.get_by_label("Chat in attesa da troppo tempo: Email")
    await expect(waiting_push).to_be_checked()  # the defaults
    await expect(waiting_email).not_to_be_checked()
    offer_dashboard = page.get_by_label("Nuova richiesta di chat per te: Dashboard")
    await expect(offer_dashboard).to_be_checked()
    await expect(offer_dashboard).to_be_disabled()  # the offer card is the dashboard alert
    # Email and Slack are not configured on this server: the columns say so.
    await expect(page.locator(".prefs-table thead")).to_contain_text("non configurato sul server")
    await waiting_push.uncheck()
    await waiting_email.check()
    await page.get_by_label("SLA scaduto: Slack").uncheck()
    await page.get_by_role("button", name="Salva preferenze").click()
    await expect(page.locator("#toasts")).to_contain_text("Preferenze salvate.")
    await screenshot(page, "dashboard-notifications")
    saved = await _preferences(live, sara)
    assert saved["chat.waiting"] == {"dashboard": True, "email": True, "push": False, "slack": False}
    assert saved["sla.breached"]["slack"] is False
    assert saved["sla.breached"]["email"] is True  # untouched cells keep their default

    await page.get_by_role("button", name="Switch to English").click()
    await expect(page.get_by_role("heading", name="Notifications", exact=True)).to_be_visible()
    await page.reload()
    await expect(page.get_by_label("A chat waiting too long: Email")).to_be_checked()
    await expect(page.get_by_label("A chat waiting too long: Push")).not_to_be_checked()
    await expect(page.get_by_role("button", name="Save preferences")).to_be_visible()
    await page.get_by_role("button", name="Save preferences").click()
    await expect(page.locator("#toasts")).to_contain_text("Nothing changed to save.")


async def test_service_worker_headers(live: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        r = await http.get("/dashboard/sw.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["service-worker-allowed"] == "/dashboard"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "self.registration.showNotification" in r.text


async def test_push_subscription_from_the_dashboard_and_the_service_worker(
    browser: Any, live: ThreadServer
) -> None:
    sara = await add_operator(live, "sara@example.com", name="Sara Rossi")
    context = await browser.new_context(locale="it-IT")
    await context.grant_permissions(["notifications"], origin=live.base_url)
    await context.add_init_script(FAKE_PUSH_SERVICE)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await log_in(page, live, "sara@example.com", path="/dashboard/notifications")
        await expect(page.locator(".push-state")).to_have_text("Non attive su questo browser.")
        await page.get_by_role("button", name="Attiva le notifiche push").click()
        await expect(page.locator("#toasts")).to_contain_text("Notifiche push attivate.")
        scope = await page.evaluate(
            "async () => (await navigator.serviceWorker.getRegistration('/dashboard')).scope"
        )
        assert scope == f"{live.base_url}/dashboard"
        [call] = await page.evaluate("window.__subscribeCalls")
        assert call["userVisibleOnly"] is True
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            login = await http.post(
                "/api/v1/auth/login", json={"email": "sara@example.com", "password": "correct horse battery"}
            )
            token = login.json()["token"]
            key = (
                await http.get(
                    "/api/v1/notifications/push/key", headers={"Authorization": f"Bearer {token}"}
                )
            ).json()["application_server_key"]
        assert bytes(call["key"]) == base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))

        async def subscriptions(rt: Any) -> list[str]:
            async with rt.db.scope() as session:
                rows = await session.execute(
                    select(PushSubscription.endpoint).where(PushSubscription.operator_id == sara)
                )
                return list(rows.scalars())

        [endpoint] = await in_server(live, subscriptions)
        assert endpoint.startswith("https://push.example.test/send/")

        # A push while the dashboard is on screen: the worker leaves the alert to the page.
        cdp = await context.new_cdp_session(page)
        registrations: list[dict[str, Any]] = []
        cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
        await cdp.send("ServiceWorker.enable")
        await until(lambda: any(r["scopeURL"].endswith("/dashboard") for r in registrations))
        reg_id = next(r["registrationId"] for r in registrations if r["scopeURL"].endswith("/dashboard"))
        await page.evaluate(
            "() => { window.__pushes = []; document.addEventListener('sportello:push', (e) => window.__pushes.push(e.detail)); }"
        )
        payload = '{"title": "Sportello", "body": "Nuova richiesta di chat (IT)", "kind": "chat.offered", "tag": "offer-1", "url": "/dashboard"}'
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": live.base_url, "registrationId": reg_id, "data": payload},
        )
        await until(lambda: page.evaluate("window.__pushes.length"))
        [seen] = await page.evaluate("window.__pushes")
        assert seen["shown"] is False and seen["payload"]["kind"] == "chat.offered"

        # With no dashboard window (only the shop is open), the worker shows it itself.
        shop = await context.new_page()
        shop.on("pageerror", lambda exc: errors.append(str(exc)))
        await shop.goto(live.base_url + "/")
        await page.close()
        page = shop
        cdp = await context.new_cdp_session(shop)
        await cdp.send("ServiceWorker.enable")
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": live.base_url, "registrationId": reg_id, "data": payload.replace("offer-1", "offer-2")},
        )

        async def shown() -> list[dict[str, Any]]:
            result: list[dict[str, Any]] = await page.evaluate(
                """async () => {
                    const reg = await navigator.serviceWorker.getRegistration('/dashboard');
                    return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, url: n.data.url }));
                }"""
            )
            return result

        [note] = await until(shown)
        assert note == {
            "title": "Sportello",
            "body": "Nuova richiesta di chat (IT)",
            "tag": "offer-2",
            "url": f"{live.base_url}/dashboard",
        }
        # A click opens only this site's dashboard, whatever address a payload carries.
        [worker] = [w for w in context.service_workers if w.url.endswith("/dashboard/sw.js")]
        base = live.base_url
        assert await worker.evaluate("target('https://evil.example/dashboard')") == f"{base}/dashboard"
        assert await worker.evaluate("target('/admin')") == f"{base}/dashboard"
        assert await worker.evaluate("target('/dashboard/tickets/LDN-000001')") == (
            f"{base}/dashboard/tickets/LDN-000001"
        )
        assert not errors, errors
    finally:
        await context.close()


async def test_supervisor_sees_sla_alerts_and_the_escalation_live(
    page: Any, live: ThreadServer
) -> None:
    from sportello.sla.tasks import run_sla_tick
    from sportello.tickets import service as tickets

    agent = await add_operator(live, "ada@example.com", name="Ada Verdi")
    await add_operator(live, "bea@example.com", name="Bea Neri", role="supervisor")
    # Opened 70 minutes ago; the SLA pass is run below at chosen instants, as the ticker would.
    start = utc_now() - timedelta(minutes=70)

    async def open_ticket(rt: Any) -> str:
        async with rt.db.scope() as session:
            ticket = await tickets.create_ticket(
                session,
                rt.settings,
                tickets.NewTicket(
                    contact_method="email", email="anna@example.com", subject="Biglietti non arrivati",
                    priority="high", assignee_id=agent, source="operator", language="it",
                ),
                now=start,
            )
            return str(ticket.number)

    number = await open_ticket_in(live, open_ticket)
    await log_in(page, live, "bea@example.com")
    await page.evaluate(
        "() => { window.__notices = []; document.addEventListener('sportello:notice', (e) => window.__notices.push(e.detail)); }"
    )

    async def tick(minutes: int) -> int:
        async def work(rt: Any) -> int:
            fired: int = await run_sla_tick(rt, start + timedelta(minutes=minutes))
            return fired

        fired: int = await in_server(live, work)
        return fired

    # High priority: one hour to the first response (always open here); 80 % is the warning.
    assert await tick(47) == 0
    assert await tick(49) == 1
    toasts = page.locator("#toasts")
    await expect(toasts).to_contain_text(f"SLA a rischio: ticket {number}")
    await expect(page.locator("#sla-pill")).to_have_text("Avvisi SLA: 1")
    assert await tick(61) == 1
    await expect(toasts).to_contain_text(f"SLA scaduto: ticket {number}")
    await expect(toasts).to_contain_text(f"Escalation di un ticket · {number}")
    await screenshot(page, "dashboard-sla-alerts")
    notices = await page.evaluate("window.__notices")
    assert [n["kind"] for n in notices] == ["ticket.escalated"]
    await page.locator("#sla-pill").click()
    row = page.locator(".tickets-table tbody tr", has_text=number)
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("Scaduto")
    await expect(row).to_contain_text("Urgente")  # escalated from high


async def open_ticket_in(live: ThreadServer, work: Any) -> str:
    number: str = await in_server(live, work)
    return number
