"""Notification fixtures: the fake vendors on 127.0.0.1 and settings that point at them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from sportello.app import create_app
from sportello.config import Settings
from sportello.conversations import service as conversations
from sportello.conversations.schemas import ConversationCreate
from sportello.notifications import install
from sportello.operators import service as operators
from sportello.operators.schemas import OperatorCreate
from sportello.runtime import Runtime
from tests.fixtures.http_fakes import FakePushService, FakeSlack, FakeTwilio
from tests.fixtures.smtp_server import SmtpServer

PUBLIC_URL = "http://testserver"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    server = FakeTwilio("AC" + uuid.uuid4().hex, "auth-" + uuid.uuid4().hex).start()
    yield server
    server.stop()


@pytest.fixture
def push_service() -> Iterator[FakePushService]:
    server = FakePushService().start()
    yield server
    server.stop()


@pytest.fixture
def slack_hook() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def nsettings(
    settings: Settings, smtp: SmtpServer, twilio: FakeTwilio, slack_hook: FakeSlack
) -> Settings:
    return settings.model_copy(
        update={
            "public_url": PUBLIC_URL,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_security": "none",
            "smtp_from": "Sportello <help@shop.test>",
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token": twilio.auth_token,
            "twilio_sms_from": "+15005550006",
            "twilio_whatsapp_from": "+14155238886",
            "twilio_api_url": twilio.base_url,
            "twilio_whatsapp_content_sids": {"ticket.opened": "HX" + "1" * 32},
            "slack_webhook_url": f"{slack_hook.base_url}/services/T000/B000/XXXX",
            "outbox_worker_enabled": False,
            "outbox_max_attempts": 3,
            "ticker_enabled": False,
        }
    )


@pytest.fixture
async def rt(nsettings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime(nsettings)
    await runtime.start()
    install(runtime)
    yield runtime
    await runtime.stop()


@pytest.fixture
async def api(nsettings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(nsettings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


def runtime_of(http: httpx.AsyncClient) -> Runtime:
    return http.app.state.runtime  # type: ignore[attr-defined,no-any-return]


async def new_conversation(rt: Runtime, **fields: Any) -> uuid.UUID:
    async with rt.db.scope() as session:
        conv, _ = await conversations.create_conversation(
            session, ConversationCreate(), language="it", user_agent=None
        )
        for name, value in fields.items():
            setattr(conv, name, value)
        return conv.id


async def new_operator(
    rt: Runtime, role: str = "agent", languages: list[str] | None = None
) -> tuple[uuid.UUID, str]:
    """(operator id, bearer token)."""
    async with rt.db.scope() as session:
        op = await operators.create_operator(
            session,
            OperatorCreate(
                email=f"op-{uuid.uuid4().hex[:8]}@shop.test",
                name="Giulia",
                password="correct horse battery",
                role=role,
                languages=languages or ["it"],  # type: ignore[arg-type]
            ),
        )
        token, _ = await operators.start_session(
            session, op, rt.settings, address=None, user_agent=None
        )
        return op.id, token
