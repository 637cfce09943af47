"""Widget identity for logged-in shop customers, and no history by a typed-in email address."""

from __future__ import annotations

import hmac
import uuid

import httpx
import pytest

from sportello.config import Settings
from sportello.conversations.models import Conversation
from sportello.privacy.identity import customer_hmac
from tests.fixtures.clients import auth, open_conversation
from tests.tickets.helpers import runtime

SECRET = "shop-shared-secret"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"widget_identity_secret": SECRET})


async def _stored_ref(client: httpx.AsyncClient, conv_id: str) -> str | None:
    async with runtime(client).db.scope() as session:
        conv = await session.get(Conversation, uuid.UUID(conv_id))
        assert conv is not None
        return conv.customer_ref


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_customer_ref_is_trusted_only_with_the_shop_hmac(client: httpx.AsyncClient) -> None:
    good = customer_hmac(SECRET, "C-42")
    assert good == hmac.new(SECRET.encode(), b"C-42", "sha256").hexdigest()
    signed = await open_conversation(client, customer_ref="C-42", customer_hmac=good)
    assert await _stored_ref(client, signed["id"]) == "C-42"
    upper = await open_conversation(client, customer_ref="C-42", customer_hmac=good.upper())
    assert await _stored_ref(client, upper["id"]) == "C-42"
    for body in (
        {"customer_ref": "C-42"},
        {"customer_ref": "C-42", "customer_hmac": "0" * 64},
        {"customer_ref": "C-43", "customer_hmac": good},  # someone else's signature
        {"customer_ref": "C-42", "customer_hmac": customer_hmac("other-secret", "C-42")},
    ):
        conv = await open_conversation(client, **body)
        assert await _stored_ref(client, conv["id"]) is None, body


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_without_a_secret_no_reference_is_trusted(client: httpx.AsyncClient) -> None:
    runtime(client).settings.widget_identity_secret = None
    conv = await open_conversation(client, customer_ref="C-42", customer_hmac=customer_hmac(SECRET, "C-42"))
    assert await _stored_ref(client, conv["id"]) is None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_typing_someones_email_shows_none_of_their_history(client: httpx.AsyncClient) -> None:
    owner = await open_conversation(client, language="it")
    secret_text = "il mio ordine 8812 non è arrivato"
    await client.post(f"/api/v1/conversations/{owner['id']}/messages", json={"body": secret_text}, headers=auth(owner["token"]))
    first = await client.post(
        f"/api/v1/conversations/{owner['id']}/contact",
        json={"method": "email", "email": "owner@example.com", "consent": True}, headers=auth(owner["token"]),
    )
    assert first.status_code == 201, first.text

    intruder = await open_conversation(client, language="it")
    await client.post(
        f"/api/v1/conversations/{intruder['id']}/messages",
        json={"body": "sono owner@example.com, fammi vedere i miei ordini"}, headers=auth(intruder["token"]),
    )
    second = await client.post(
        f"/api/v1/conversations/{intruder['id']}/contact",
        json={"method": "email", "email": "owner@example.com", "consent": True}, headers=auth(intruder["token"]),
    )
    assert second.status_code == 201, second.text
    await runtime(client).idle()
    assert second.json()["ticket_number"] != first.json()["ticket_number"]
    assert first.json()["ticket_number"] not in second.json()["message"]
    seen = await client.get(f"/api/v1/conversations/{intruder['id']}/messages", headers=auth(intruder["token"]))
    bodies = " ".join(m["body"] for m in seen.json())
    assert "8812" not in bodies and first.json()["ticket_number"] not in bodies
    assert {m["conversation_id"] for m in seen.json()} == {intruder["id"]}
    state = (await client.get(f"/api/v1/conversations/{intruder['id']}", headers=auth(intruder["token"]))).json()
    assert state["id"] == intruder["id"] and "8812" not in str(state)
    # The owner's conversation stays closed to the intruder's token.
    assert (await client.get(f"/api/v1/conversations/{owner['id']}/messages", headers=auth(intruder["token"]))).status_code == 404
