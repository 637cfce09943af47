"""Contact collection in a real conversation: the chat dialogue and the widget's form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import httpx
import pytest

from tests.fixtures.clients import auth, open_conversation
from tests.tickets.helpers import (
    awaiting_contact,
    freeze,
    make_operator,
    rome,
    runtime,
    say,
    status_of,
)

# Friday 28 November 2025, 17:55 in Rome: five minutes of business time left this week... until
# Saturday's opening (the seed's hours are Monday-Saturday 09:00-18:00).
FRIDAY_1755 = rome(2025, 11, 28, 17, 55)


async def test_email_in_italian_with_a_typo_then_consent(client: httpx.AsyncClient) -> None:
    freeze(client, FRIDAY_1755)
    conv_id, token = await awaiting_contact(client, "it")
    reply = await say(client, conv_id, token, "email")
    assert "indirizzo email" in reply["body"]
    reply = await say(client, conv_id, token, "mario.rossi@gmail")
    assert "gmail" in reply["body"] and "punto" in reply["body"]
    reply = await say(client, conv_id, token, "mario rossi@gmail.com")
    assert "caratteri non ammessi" in reply["body"]
    reply = await say(client, conv_id, token, "mario.rossi@gmail.com")
    assert "Acconsenti" in reply["body"] and "mario.rossi@gmail.com" in reply["body"]
    reply = await say(client, conv_id, token, "boh")
    assert "sì" in reply["body"]
    reply = await say(client, conv_id, token, "Sì")
    # Medium priority: 4 business hours = 5 minutes on Friday + 3h55 on Saturday from 09:00.
    assert "LDN-000001" in reply["body"]
    assert "domani alle 12:55" in reply["body"], reply["body"]
    assert await status_of(client, conv_id, token) == "ticketed"
    _, headers = await make_operator(runtime(client), role="supervisor")
    ticket = (await client.get("/api/v1/tickets/LDN-000001", headers=headers)).json()
    assert ticket["email"] == "mario.rossi@gmail.com"
    assert ticket["contact_method"] == "email"
    assert ticket["conversation_id"] == conv_id
    assert ticket["status"] == "open" and ticket["priority"] == "medium"
    assert datetime.fromisoformat(ticket["first_response_due_at"]) == rome(2025, 11, 29, 12, 55)
    assert ticket["consent_at"] is not None
    history = (await client.get("/api/v1/tickets/LDN-000001/history", headers=headers)).json()
    consent = next(h for h in history if h["action"] == "contact_consent")
    assert "Sì" in consent["data"]["text"]


async def test_whatsapp_in_english_rejects_bad_and_landline_numbers(client: httpx.AsyncClient) -> None:
    freeze(client, FRIDAY_1755)
    conv_id, token = await awaiting_contact(client, "en")
    reply = await say(client, conv_id, token, "2")
    assert "mobile number" in reply["body"]
    reply = await say(client, conv_id, token, "12")
    assert "too short" in reply["body"]
    reply = await say(client, conv_id, token, "it is secret")
    assert "not look like a phone number" in reply["body"]
    reply = await say(client, conv_id, token, "06 1234 5678")
    assert "landline" in reply["body"]
    reply = await say(client, conv_id, token, "+99 123 4567")
    assert "country code" in reply["body"]
    reply = await say(client, conv_id, token, "333 123 4567")
    assert "WhatsApp at +393331234567" in reply["body"]
    reply = await say(client, conv_id, token, "no")
    assert "without your consent" in reply["body"] and "1) Email" in reply["body"]
    reply = await say(client, conv_id, token, "sms")
    assert "mobile number" in reply["body"]
    reply = await say(client, conv_id, token, "+44 7911 123456")
    reply = await say(client, conv_id, token, "yes")
    assert "by SMS at +447911123456" in reply["body"]
    assert "tomorrow at 12:55" in reply["body"]
    assert await status_of(client, conv_id, token) == "ticketed"


async def test_phone_callback_slot_inside_business_hours(client: httpx.AsyncClient) -> None:
    now = rome(2025, 12, 1, 10, 20)  # a Monday
    freeze(client, now)
    conv_id, token = await awaiting_contact(client, "it")
    await say(client, conv_id, token, "telefonata")
    reply = await say(client, conv_id, token, "+39 06 1234 5678")  # a landline is fine for calls
    assert "1) oggi alle 12:00" in reply["body"], reply["body"]
    reply = await say(client, conv_id, token, "domani 20:00")
    assert "siamo chiusi" in reply["body"] and "Il primo orario utile" in reply["body"]
    reply = await say(client, conv_id, token, "domenica")
    assert "Non ho capito l'orario" in reply["body"]
    reply = await say(client, conv_id, token, "domani 10:30")
    assert "Acconsenti" in reply["body"]
    reply = await say(client, conv_id, token, "sì")
    assert "Ti chiameremo al +390612345678 domani alle 10:30" in reply["body"], reply["body"]


async def test_bare_email_at_the_menu_and_cancel_back_to_the_assistant(client: httpx.AsyncClient) -> None:
    freeze(client, FRIDAY_1755)
    conv_id, token = await awaiting_contact(client, "it")
    reply = await say(client, conv_id, token, "annulla")
    assert "nessun contatto" in reply["body"]
    assert await status_of(client, conv_id, token) == "bot"
    conv_id, token = await awaiting_contact(client, "it")
    reply = await say(client, conv_id, token, "scrivetemi a anna@example.it grazie")
    assert "Acconsenti" in reply["body"] and "anna@example.it" in reply["body"]


async def test_first_message_without_a_menu_shows_the_options(client: httpx.AsyncClient) -> None:
    """When the hand-off only moved the conversation, the first visitor message gets the menu."""
    from sportello.conversations import service as conversations
    from sportello.conversations.models import ConversationStatus

    conv = await open_conversation(client, language="it")
    rt = runtime(client)
    async with rt.db.scope() as session:
        row = await conversations.get_conversation(session, conv["id"])
        await conversations.transition(session, row, ConversationStatus.AWAITING_CONTACT)
    reply = await say(client, conv["id"], conv["token"], "ok")
    assert reply["body"].startswith("Come preferisci essere ricontattato?")
    assert len(reply["metadata"]["quick_replies"]) == 4


@pytest.mark.parametrize(
    ("start", "due"),
    [
        # 24 December (Wednesday): two hours left that day, then Christmas and St Stephen's.
        (rome(2025, 12, 24, 16, 0), rome(2025, 12, 27, 11, 0)),
        # The Saturday before the autumn DST change: 1 h Saturday, Monday 09:00 CET + 3 h.
        (rome(2025, 10, 25, 17, 0), datetime(2025, 10, 27, 11, 0, tzinfo=UTC)),
        # The Saturday before the spring change: Monday 09:00 CEST + 3 h.
        (rome(2026, 3, 28, 17, 0), datetime(2026, 3, 30, 10, 0, tzinfo=UTC)),
    ],
    ids=["christmas-eve", "dst-autumn", "dst-spring"],
)
async def test_promised_time_over_holidays_and_dst(
    client: httpx.AsyncClient, start: datetime, due: datetime
) -> None:
    freeze(client, start)
    conv_id, token = await awaiting_contact(client, "it")
    response = await client.post(
        f"/api/v1/conversations/{conv_id}/contact",
        json={"method": "email", "email": "a@example.com", "consent": True},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert datetime.fromisoformat(body["expected_answer_at"]) == due
    assert body["ticket_number"] in body["message"]
    local = due.astimezone(start.tzinfo)
    assert f"{local:%H:%M}" in body["expected_answer_text"]


async def test_contact_form_per_field_errors(client: httpx.AsyncClient) -> None:
    freeze(client, FRIDAY_1755)
    conv_id, token = await awaiting_contact(client, "it")
    url = f"/api/v1/conversations/{conv_id}/contact"
    bad = await client.post(
        url, json={"method": "email", "email": "x@", "consent": False}, headers=auth(token)
    )
    assert bad.status_code == 422
    fields = bad.json()["fields"]
    assert set(fields) == {"email", "consent"}
    assert "dominio" in fields["email"] and "consenso" in fields["consent"]
    bad = await client.post(
        url,
        json={"method": "phone", "phone": "333", "callback_slot": "tomorrow", "consent": True},
        headers=auth(token),
    )
    assert set(bad.json()["fields"]) == {"phone", "callback_slot"}
    bad = await client.post(
        url,
        json={"method": "phone", "phone": "3331234567", "callback_slot": "2025-11-30T10:00:00+01:00", "consent": True},
        headers=auth(token),
    )
    assert "chiusi" in bad.json()["fields"]["callback_slot"]  # a Sunday
    bad = await client.post(url, json={"method": "pigeon", "consent": True}, headers=auth(token))
    assert set(bad.json()["fields"]) == {"method"}
    bad = await client.post(url, json={"method": "email"}, headers=auth(token))
    assert bad.status_code == 422  # consent missing altogether
    wrong = await client.post(url, json={"method": "email", "email": "a@b.it", "consent": True})
    assert wrong.status_code == 404
    ok = await client.post(
        url,
        json={"method": "phone", "phone": "3331234567", "callback_slot": "2025-11-29T10:00:00+01:00", "consent": True},
        headers=auth(token),
    )
    assert ok.status_code == 201, ok.text
    assert datetime.fromisoformat(ok.json()["expected_answer_at"]) == rome(2025, 11, 29, 10, 0)
    again = await client.post(url, json={"method": "email", "email": "a@b.it", "consent": True}, headers=auth(token))
    assert again.status_code == 409 and "LDN-000001" in again.json()["message"]


async def test_form_from_the_assistant_and_customer_reply_reaches_the_ticket(
    client: httpx.AsyncClient,
) -> None:
    freeze(client, FRIDAY_1755)
    conv = await open_conversation(client, language="en")
    response = await client.post(
        f"/api/v1/conversations/{conv['id']}/contact",
        json={"method": "email", "email": "Bob@Example.COM", "consent": True},
        headers=auth(conv["token"]),
    )
    assert response.status_code == 201, response.text
    assert "Bob@example.com" in response.json()["message"]
    rt = runtime(client)
    _, headers = await make_operator(rt, role="agent")
    number = response.json()["ticket_number"]
    await client.patch(f"/api/v1/tickets/{number}", json={"status": "in_progress"}, headers=headers)
    await client.patch(f"/api/v1/tickets/{number}", json={"status": "waiting_user"}, headers=headers)
    sent = await client.post(
        f"/api/v1/conversations/{conv['id']}/messages",
        json={"body": "here is my order number 1234"},
        headers=auth(conv["token"]),
    )
    assert sent.status_code == 201
    await rt.idle()
    got = await client.get(f"/api/v1/tickets/{number}", headers=headers)
    assert got.status_code == 200, got.text
    ticket = got.json()
    assert ticket["status"] == "in_progress"
    found = (await client.get("/api/v1/tickets", params={"q": "order number 1234"}, headers=headers)).json()
    assert [t["number"] for t in found["items"]] == [number]


async def test_form_options_and_the_confirmation_the_widget_shows(client: httpx.AsyncClient) -> None:
    """`GET …/contact` offers the call-back slots; the answer and the chat message carry the ticket."""
    freeze(client, FRIDAY_1755)
    conv_id, token = await awaiting_contact(client, "it")
    url = f"/api/v1/conversations/{conv_id}/contact"
    options = await client.get(url, headers=auth(token))
    assert options.status_code == 200, options.text
    body = options.json()
    assert body["methods"] == ["email", "whatsapp", "sms", "phone"]
    assert body["time_zone"] == "Europe/Rome"
    # Friday 17:55: the first whole hour at least an hour ahead inside business hours is Saturday 09:00.
    slots = [datetime.fromisoformat(s) for s in body["callback_slots"]]
    assert slots[0] == rome(2025, 11, 29, 9, 0) and len(slots) == 4
    assert all(b - a >= timedelta(hours=2) for a, b in pairwise(slots))
    other = await open_conversation(client, language="it")
    assert (await client.get(url, headers=auth(other["token"]))).status_code == 404

    # The widget in English: field errors and the confirmation follow its language.
    bad = await client.post(
        url, json={"method": "sms", "phone": "02 1234 5678", "consent": True, "language": "en"},
        headers=auth(token),
    )
    assert bad.status_code == 422
    assert "landline" in bad.json()["fields"]["phone"]
    assert bad.json()["message"] == "Please check the highlighted fields."
    unknown = await client.post(url, json={"method": "sms", "consent": True, "language": "de"}, headers=auth(token))
    assert unknown.status_code == 422 and "language" in unknown.json()["message"]

    ok = await client.post(
        url, json={"method": "sms", "phone": "333 123 4567", "consent": True, "language": "en"},
        headers=auth(token),
    )
    assert ok.status_code == 201, ok.text
    accepted = ok.json()
    assert accepted["contact_method"] == "sms" and accepted["contact"] == "+393331234567"
    assert accepted["confirmation_via"] == "sms" and accepted["time_zone"] == "Europe/Rome"
    assert accepted["message"].startswith("Thank you!")
    messages = (await client.get(f"/api/v1/conversations/{conv_id}/messages", headers=auth(token))).json()
    done = [m for m in messages if m["metadata"].get("kind") == "contact.done"]
    assert len(done) == 1 and done[0]["body"] == accepted["message"]
    meta = done[0]["metadata"]
    assert meta["ticket_number"] == accepted["ticket_number"]
    assert datetime.fromisoformat(meta["expected_answer_at"]) == datetime.fromisoformat(accepted["expected_answer_at"])
    assert (meta["contact_method"], meta["contact"], meta["confirmation_via"]) == ("sms", "+393331234567", "sms")


async def test_chat_typed_confirmation_carries_the_ticket_too(client: httpx.AsyncClient) -> None:
    """The chat dialogue's last message has the same fields, so the widget shows the same card."""
    freeze(client, FRIDAY_1755)
    conv_id, token = await awaiting_contact(client, "it")
    await say(client, conv_id, token, "1")
    await say(client, conv_id, token, "anna@example.com")
    done = await say(client, conv_id, token, "sì")
    meta = done["metadata"]
    assert meta["kind"] == "contact.done" and meta["ticket_number"] in done["body"]
    assert (meta["contact_method"], meta["contact"], meta["confirmation_via"]) == ("email", "anna@example.com", "email")
    assert meta["time_zone"] == "Europe/Rome" and meta["expected_answer_at"]
