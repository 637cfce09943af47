"""Held notifications (over a daily limit) in the dashboard's admin page, in headless Chromium."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.async_api import expect

from tests.fixtures.browser import in_server
from tests.fixtures.servers import ThreadServer
from tests.operators.helpers import PASSWORD, make_operator

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]


async def test_a_supervisor_sees_why_a_notification_is_held_and_sends_it_anyway(page: Any, live: ThreadServer) -> None:
    async def setup(rt: Any) -> int:
        from sportello.notifications import limits
        from sportello.notifications.models import OutboxState
        from sportello.notifications.outbox import enqueue

        await make_operator(rt, "sup@shop.test", role="supervisor")
        async with rt.db.scope() as session:
            row = await enqueue(session, kind="ticket.replied", channel="sms", recipient="+393331234567",
                                payload={"number": "LDN-000009"}, idempotency_key=f"held-{uuid.uuid4()}")
            row.state = OutboxState.HELD.value
            row.last_error = limits.HOLD_MESSAGES[limits.HoldReason.RECIPIENT]
            return int(row.id)

    held_id = await in_server(live, setup)
    await page.goto(live.base_url + "/dashboard/admin")
    await page.get_by_label("Email").fill("sup@shop.test")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Accedi").click()
    row = page.locator(f"tr[data-id='{held_id}']")
    await expect(row).to_contain_text("Trattenuta")
    await expect(row).to_contain_text("Limite giornaliero per questo destinatario raggiunto")
    await expect(page.locator(".channel-list")).to_contain_text("1 trattenute")
    await page.get_by_role("button", name="Switch to English").click()
    await expect(row).to_contain_text("Daily limit for this recipient reached")
    await row.get_by_role("button", name=f"Send anyway #{held_id}").click()
    await expect(page.locator("#toasts")).to_contain_text(f"Notification {held_id} released")
    await expect(row).to_have_count(0)

    async def state(rt: Any) -> tuple[str, dict[str, Any]]:
        from sportello.notifications.models import OutboxMessage

        async with rt.db.scope() as session:
            stored = await session.get(OutboxMessage, held_id)
            assert stored is not None
            return stored.state, dict(stored.payload)

    stored_state, payload = await in_server(live, state)
    assert stored_state == "pending" and payload["limits_released"] is True
