"""Contact collection: when nobody can take the chat, the visitor leaves a way to be reached.

While a conversation is `awaiting_contact` its visitor messages come here instead of to the
assistant. The dialogue offers email, WhatsApp, SMS or a phone call back (at a slot inside
business hours), checks what the visitor types and says what is wrong, asks for consent, then
opens a ticket, moves the conversation to `ticketed` and tells the visitor the ticket number and
when to expect an answer (the first-response due time of the SLA, on the business calendar).
The widget's contact form reaches the same end in one request (`submit_contact`).

Once `ticketed`, the visitor's messages are the customer's replies on the ticket.
The clock is `rt.extensions["clock"]` when set (tests), else the real one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.calendar.hours import BusinessCalendar
from sportello.conversations import service as conversations
from sportello.conversations.models import Conversation, ConversationStatus, Message, Sender
from sportello.errors import Conflict
from sportello.notifications.links import REOPEN_HOOKS
from sportello.notifications.service import customer_channel
from sportello.runtime import Runtime, VisitorTurn
from sportello.sla import service as sla
from sportello.tickets import service as tickets
from sportello.tickets.contactinfo import (
    ContactError,
    check_callback_slot,
    check_email,
    check_phone,
)
from sportello.tickets.models import ContactMethod, ContactRequest, Ticket, TicketStatus
from sportello.tickets.notify import notify
from sportello.timeutil import utc_now

S = ConversationStatus
M = ContactMethod
COLLECTABLE = (M.EMAIL, M.WHATSAPP, M.SMS, M.PHONE)
SLOTS_OFFERED = 4

_KEYWORDS: dict[ContactMethod, frozenset[str]] = {
    M.EMAIL: frozenset({"1", "email", "e-mail", "mail", "posta"}),
    M.WHATSAPP: frozenset({"2", "whatsapp", "whats", "wa", "whatsup"}),
    M.SMS: frozenset({"3", "sms", "messaggio", "text", "sms."}),
    M.PHONE: frozenset(
        {"4", "telefono", "telefonata", "chiamata", "chiamami", "richiamami", "call",
         "phone", "callback", "chiamare", "telefonare", "ring"}
    ),
}
_CANCEL = frozenset({"annulla", "cancel", "indietro", "back", "stop", "esci"})
_YES = frozenset({"si", "sì", "yes", "y", "s", "ok", "okay", "certo", "acconsento", "accetto",
                  "agree", "va bene", "sure", "consento", "d'accordo"})
_NO = frozenset({"no", "n", "non", "nope", "rifiuto", "disagree"})
_ASAP = frozenset({"prima possibile", "appena possibile", "asap", "as soon as possible",
                   "quando volete", "any time", "anytime", "qualsiasi"})

TEXTS: dict[str, dict[str, str]] = {
    "menu": {
        "it": "Come preferisci essere ricontattato? Scrivi il numero o il nome:\n"
              "1) Email\n2) WhatsApp\n3) SMS\n4) Telefonata (ti richiamiamo noi)\n"
              "Scrivi «annulla» per tornare all'assistente.",
        "en": "How would you like us to get back to you? Type the number or the name:\n"
              "1) Email\n2) WhatsApp\n3) SMS\n4) Phone call (we call you back)\n"
              "Type “cancel” to go back to the assistant.",
    },
    "not_understood": {
        "it": "Non ho capito quale modo preferisci.",
        "en": "I did not understand which way you prefer.",
    },
    "ask_email": {
        "it": "Perfetto: scrivi il tuo indirizzo email.",
        "en": "Great: please type your email address.",
    },
    "ask_phone": {
        "it": "Perfetto: scrivi il tuo numero di cellulare (con il prefisso se non è italiano).",
        "en": "Great: please type your mobile number (with the country code if not Italian).",
    },
    "ask_phone_call": {
        "it": "Perfetto: a quale numero ti richiamiamo?",
        "en": "Great: which number should we call?",
    },
    "ask_phone_method": {
        "it": "Ho preso nota del numero {phone}. Preferisci WhatsApp, SMS o una telefonata?",
        "en": "I have noted the number {phone}. Would you prefer WhatsApp, SMS or a phone call?",
    },
    "ask_slot": {
        "it": "Quando preferisci essere chiamato? Scegli un numero, oppure scrivi giorno e ora "
              "(per esempio «domani 10:30»):\n{slots}",
        "en": "When would you like us to call? Pick a number, or type a day and time "
              "(for example “tomorrow 10:30”):\n{slots}",
    },
    "slot_not_understood": {
        "it": "Non ho capito l'orario: scegli uno dei numeri o scrivi per esempio «domani 10:30».",
        "en": "I did not understand the time: pick one of the numbers or type e.g. “tomorrow 10:30”.",
    },
    "retry": {"it": "Riprova, per favore.", "en": "Please try again."},
    "consent": {
        "it": "Acconsenti a essere ricontattato {how} per questa richiesta, e al trattamento "
              "del recapito a questo scopo? Rispondi «sì» o «no».",
        "en": "Do you agree to be contacted {how} about this request, and to us keeping this "
              "contact for that purpose? Please answer “yes” or “no”.",
    },
    "consent_unclear": {
        "it": "Rispondi «sì» per confermare o «no» per scegliere un altro modo.",
        "en": "Answer “yes” to confirm or “no” to choose another way.",
    },
    "consent_refused": {
        "it": "Va bene: senza il tuo consenso non possiamo ricontattarti in quel modo.",
        "en": "All right: without your consent we cannot contact you that way.",
    },
    "cancelled": {
        "it": "D'accordo, nessun contatto registrato. Sono di nuovo a tua disposizione: "
              "scrivimi pure la tua domanda.",
        "en": "All right, no contact saved. I am here again: feel free to ask your question.",
    },
    "done": {
        "it": "Grazie! Abbiamo aperto la richiesta {number}. {promise}",
        "en": "Thank you! We have opened request {number}. {promise}",
    },
    "promise_written": {
        "it": "Ti risponderemo {how} entro {when}.",
        "en": "We will answer {how} by {when}.",
    },
    "promise_call": {
        "it": "Ti chiameremo al {phone} {when}.",
        "en": "We will call you on {phone} {when}.",
    },
    "how_email": {"it": "via email a {email}", "en": "by email at {email}"},
    "how_whatsapp": {"it": "su WhatsApp al {phone}", "en": "on WhatsApp at {phone}"},
    "how_sms": {"it": "via SMS al {phone}", "en": "by SMS at {phone}"},
    "how_phone": {"it": "con una telefonata al {phone}", "en": "by phone on {phone}"},
    "ticket_reply_received": {
        "it": "Abbiamo aggiunto il tuo messaggio alla richiesta {number}.",
        "en": "We have added your message to request {number}.",
    },
}


def say(key: str, lang: str, **values: Any) -> str:
    texts = TEXTS[key]
    return (texts["it"] if lang.startswith("it") else texts["en"]).format(**values)


def clock(rt: Runtime) -> datetime:
    now: Callable[[], datetime] | None = rt.extensions.get("clock")
    return now() if now is not None else utc_now()


def install(rt: Runtime) -> None:
    """Wire tickets into this process.

    Visitor messages of `awaiting_contact` and `ticketed` conversations come here;
    `rt.extensions["contact_collection"]` is `offer_contact_options` for the hand-off step;
    a reopen link (notifications) reopens the conversation's ticket through `reopen_from_link`.
    """
    rt.visitor_message_handlers.append(handle_visitor_message)
    rt.extensions["contact_collection"] = offer_contact_options

    async def reopen_hook(session: AsyncSession, conv: Conversation) -> None:
        await reopen_from_link(rt, session, conv)

    rt.extensions.setdefault(REOPEN_HOOKS, []).append(reopen_hook)


async def reopen_from_link(rt: Runtime, session: AsyncSession, conv: Conversation) -> None:
    """The customer opened a reopen link: their ticket goes back in progress (the assignee is told),
    and the conversation returns to the assistant, from where the hand-off can queue them."""
    ticket = await tickets.ticket_for_conversation(session, conv.id)
    if ticket is not None:
        # An open ticket nobody has picked up stays in the pool as it is.
        if ticket.status not in (TicketStatus.OPEN, TicketStatus.IN_PROGRESS):
            await tickets.transition(
                session, ticket, TicketStatus.IN_PROGRESS, sla.sla_config(rt.settings),
                actor_type="customer", reason="reopen link", now=clock(rt),
            )
        await notify(
            session, "ticket.customer_replied", ticket, operator_ids=[ticket.assignee_id],
            data={"event_id": f"reopen-{utc_now().timestamp()}", "reopened": True},
        )
    if conv.status in (S.TICKETED, S.CLOSED, S.AWAITING_CONTACT):
        await conversations.transition(
            session, conv, S.BOT, actor_type="visitor", reason="reopen link"
        )


# The chat dialogue


def _tokens(text: str) -> list[str]:
    return re.findall(r"[\w@+.'\-]+", text.lower())


def _normal(text: str) -> str:
    return " ".join(_tokens(text)).strip(" .!")


def parse_method(text: str) -> ContactMethod | None:
    """The contact method a short answer names ("2", "WhatsApp", "chiamatemi"), if exactly one."""
    words = set(_tokens(text))
    if len(words) > 6:
        return None
    found = {method for method, keys in _KEYWORDS.items() if words & keys}
    return found.pop() if len(found) == 1 else None


def _looks_like_phone(text: str) -> bool:
    digits = re.sub(r"[\s().\-/]", "", text.strip())
    return bool(re.fullmatch(r"\+?\d{6,16}", digits))


async def _request(session: AsyncSession, conv: Conversation, now: datetime) -> ContactRequest:
    """The conversation's contact request, created if missing, locked for this unit of work."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(ContactRequest)
        .values(
            conversation_id=conv.id, step="new", offered_slots=[], last_message_id=0,
            created_at=now, updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["conversation_id"])
    )
    req = (
        await session.execute(
            select(ContactRequest)
            .where(ContactRequest.conversation_id == conv.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return req


def _reset(req: ContactRequest, now: datetime, reason: str | None) -> None:
    req.step, req.method, req.email, req.phone = "method", None, None, None
    req.callback_at, req.offered_slots, req.consent_at, req.consent_text = None, [], None, None
    req.ticket_id, req.reason, req.updated_at = None, reason, now


async def offer_contact_options(
    session: AsyncSession, conv: Conversation, *, reason: str | None = None,
    now: datetime | None = None,
) -> None:
    """Start contact collection: post the options menu (moving the conversation to awaiting_contact).

    For the handoff step to call right after deciding nobody can take the chat.
    """
    now = now or utc_now()
    if conv.status != S.AWAITING_CONTACT:
        await conversations.transition(session, conv, S.AWAITING_CONTACT, reason=reason)
    req = await _request(session, conv, now)
    _reset(req, now, reason)
    req.last_message_id = await _last_message_id(session, conv)
    await _post(session, conv, say("menu", conv.language), kind="contact.menu", quick=True)


async def _last_message_id(session: AsyncSession, conv: Conversation) -> int:
    messages = await conversations.list_messages(session, conv.id, after=max(0, conv.last_seq - 1))
    return messages[-1].id if messages else 0


async def _post(
    session: AsyncSession, conv: Conversation, body: str, *, kind: str, quick: bool = False,
    reply_to: int | None = None, **meta: Any,
) -> None:
    data: dict[str, Any] = {"kind": kind, **meta}
    if quick:
        labels = ["Email", "WhatsApp", "SMS", "Telefonata" if conv.language.startswith("it") else "Phone call"]
        data["quick_replies"] = [{"label": label, "text": str(i)} for i, label in enumerate(labels, 1)]
    await conversations.append_message(
        session, conv, sender=Sender.SYSTEM, body=body, meta=data,
        client_message_id=f"contact-{reply_to}" if reply_to is not None else None,
    )


async def handle_visitor_message(rt: Runtime, turn: VisitorTurn) -> None:
    """The contact dialogue's turn (awaiting_contact), or a customer reply on the ticket (ticketed).

    A message stored while the assistant had the conversation is the assistant's, not the
    dialogue's (when its hand-off leads here, offer_contact_options marks it answered anyway),
    so it costs no read here: in a burst of new visitors every message is such a one.
    """
    if turn.status == S.BOT:
        return
    conversation_id, message_id = turn.conversation_id, turn.message_id
    now = clock(rt)
    config = sla.sla_config(rt.settings)
    async with rt.db.scope() as session:
        conv = await conversations.get_conversation(session, conversation_id)
        if conv.status not in (S.AWAITING_CONTACT, S.TICKETED):
            return
        message = await session.get(Message, message_id)
        if message is None or message.sender != Sender.VISITOR:
            return
        if conv.status == S.TICKETED:
            ticket = await tickets.ticket_for_conversation(session, conv.id)
            if ticket is not None:
                await tickets.customer_wrote(session, ticket, message_id, config, now=now)
            return
        req = await _request(session, conv, now)
        if message_id <= req.last_message_id:
            return  # answered already (a retried hand-off of the same message)
        req.last_message_id = message_id
        req.updated_at = now
        if req.step == "done":
            _reset(req, now, "new request")
            req.step = "new"
        dialogue = Dialogue(rt, session, conv, req, config.calendar, now, message_id)
        await dialogue.step(message.body)


@dataclass
class Dialogue:
    rt: Runtime
    session: AsyncSession
    conv: Conversation
    req: ContactRequest
    calendar: BusinessCalendar
    now: datetime
    message_id: int

    @property
    def lang(self) -> str:
        return self.conv.language

    async def reply(self, *parts: str, quick: bool = False, **meta: Any) -> None:
        await _post(
            self.session, self.conv, "\n".join(p for p in parts if p),
            kind=f"contact.{self.req.step}", quick=quick, reply_to=self.message_id, **meta,
        )

    async def step(self, text: str) -> None:
        normal = _normal(text)
        if self.req.step == "new":
            # Nobody has shown the options yet (the hand-off only said we would get back):
            # show them, unless the visitor already named a way to be reached.
            self.req.step = "method"
            if parse_method(text) is None and "@" not in text and not _looks_like_phone(text):
                await self.reply(say("menu", self.lang), quick=True)
                return
        if normal in _CANCEL or normal in {"annulla tutto", "lascia stare", "never mind"}:
            await self.cancel()
            return
        if self.req.step == "consent":
            await self.on_consent(normal, text)
            return
        method = parse_method(text) if self.req.step != "slot" or not normal.isdigit() else None
        if method is not None and self.req.step in ("method", "email", "phone", "slot"):
            await self.choose(method)
            return
        if self.req.step == "method":
            if "@" in text:
                self.req.method = M.EMAIL.value
                await self.on_email(text)
            elif _looks_like_phone(text):
                await self.on_bare_phone(text)
            else:
                await self.reply(say("not_understood", self.lang), say("menu", self.lang), quick=True)
        elif self.req.step == "email":
            await self.on_email(text)
        elif self.req.step == "phone":
            await self.on_phone(text)
        elif self.req.step == "slot":
            await self.on_slot(text)

    async def cancel(self) -> None:
        _reset(self.req, self.now, "cancelled")
        await conversations.transition(
            self.session, self.conv, S.BOT, actor_type="visitor", reason="contact cancelled"
        )
        await self.reply(say("cancelled", self.lang))

    async def choose(self, method: ContactMethod) -> None:
        self.req.method = method.value
        if method == M.EMAIL:
            if self.req.email:
                await self.ask_consent()
            else:
                self.req.step = "email"
                await self.reply(say("ask_email", self.lang))
            return
        if self.req.phone:
            await self.after_phone(self.req.phone)
            return
        self.req.step = "phone"
        await self.reply(say("ask_phone_call" if method == M.PHONE else "ask_phone", self.lang))

    async def on_email(self, text: str) -> None:
        # Asked for an address, the whole answer is the address (a space in it is an error);
        # at the menu, pick the address out of a sentence ("write to me at anna@...").
        candidates = [t for t in text.split() if "@" in t] if self.req.step == "method" else []
        address = candidates[0] if len(candidates) == 1 else text
        try:
            self.req.email = check_email(address.strip(".,;:!?<>()\"'"), self.lang)
        except ContactError as exc:
            self.req.step = "email"
            await self.reply(str(exc), say("retry", self.lang))
            return
        await self.ask_consent()

    async def on_bare_phone(self, text: str) -> None:
        try:
            self.req.phone = check_phone(text, self.lang)
        except ContactError as exc:
            await self.reply(str(exc), say("retry", self.lang))
            return
        await self.reply(say("ask_phone_method", self.lang, phone=self.req.phone))

    async def on_phone(self, text: str) -> None:
        mobile = self.req.method in (M.WHATSAPP, M.SMS)
        try:
            phone = check_phone(text, self.lang, mobile=mobile)
        except ContactError as exc:
            await self.reply(str(exc), say("retry", self.lang))
            return
        await self.after_phone(phone)

    async def after_phone(self, phone: str) -> None:
        mobile = self.req.method in (M.WHATSAPP, M.SMS)
        try:
            self.req.phone = check_phone(phone, self.lang, mobile=mobile)
        except ContactError as exc:
            self.req.step = "phone"
            await self.reply(str(exc), say("retry", self.lang))
            return
        if self.req.method == M.PHONE:
            await self.ask_slot()
        else:
            await self.ask_consent()

    async def ask_slot(self) -> None:
        self.req.step = "slot"
        slots = offer_slots(self.calendar, self.now)
        self.req.offered_slots = [s.isoformat() for s in slots]
        listing = "\n".join(
            f"{i}) {self.calendar.describe_moment(s, self.lang, now=self.now)}"
            for i, s in enumerate(slots, 1)
        )
        await self.reply(say("ask_slot", self.lang, slots=listing))

    async def on_slot(self, text: str) -> None:
        slot = parse_slot(text, self.calendar, self.now, [datetime.fromisoformat(s) for s in self.req.offered_slots])
        if slot is None:
            await self.reply(say("slot_not_understood", self.lang))
            return
        try:
            self.req.callback_at = check_callback_slot(
                slot, self.calendar, self.now, self.lang,
                horizon_days=self.rt.settings.callback_horizon_days,
            )
        except ContactError as exc:
            await self.reply(str(exc), say("retry", self.lang))
            return
        await self.ask_consent()

    def how(self) -> str:
        return say(f"how_{self.req.method}", self.lang, email=self.req.email, phone=self.req.phone)

    async def ask_consent(self) -> None:
        self.req.step = "consent"
        await self.reply(say("consent", self.lang, how=self.how()))

    async def on_consent(self, normal: str, text: str) -> None:
        if normal in _YES or normal.split(" ")[0] in _YES - {"s", "y"}:
            question = say("consent", self.lang, how=self.how())
            self.req.consent_at = self.now
            self.req.consent_text = f"{question}\n> {text.strip()}"
            result = await open_ticket(self.rt, self.session, self.conv, self.req, self.now)
            await self.reply(result.message, **result.meta())
        elif normal in _NO or normal.split(" ")[0] in _NO - {"n"}:
            _reset(self.req, self.now, self.req.reason)
            await self.reply(say("consent_refused", self.lang), say("menu", self.lang), quick=True)
        else:
            await self.reply(say("consent_unclear", self.lang))


def offer_slots(calendar: BusinessCalendar, now: datetime, count: int = SLOTS_OFFERED) -> list[datetime]:
    """Call-back times to offer: whole hours in business hours, at least an hour from now, 2 h apart."""
    earliest = now + timedelta(hours=1)
    slots: list[datetime] = []
    for start, end in calendar.open_intervals(earliest, earliest + timedelta(days=14)):
        local = calendar.local(start)
        candidate = local.replace(minute=0, second=0, microsecond=0)
        if candidate < local:
            candidate += timedelta(hours=1)
        while candidate < end and len(slots) < count:
            if not slots or candidate - slots[-1] >= timedelta(hours=2):
                slots.append(candidate)
            candidate += timedelta(hours=1)
        if len(slots) >= count:
            break
    return slots


_TIME = re.compile(r"\b(\d{1,2})(?:[:.h](\d{2}))\b|\b(?:alle|ore|at)\s+(\d{1,2})\b|\b(\d{1,2})\s*(am|pm)\b")
_DATE = re.compile(r"\b(\d{1,2})[/-](\d{1,2})(?:[/-](\d{2,4}))?\b")


def parse_slot(
    text: str, calendar: BusinessCalendar, now: datetime, offered: list[datetime]
) -> datetime | None:
    """A call-back time from "2" (an offered slot), "domani 10:30", "12/12 15:00" or "asap"."""
    normal = _normal(text)
    if normal.isdigit() and 1 <= int(normal) <= len(offered):
        return offered[int(normal) - 1]
    if normal in _ASAP and offered:
        return offered[0]
    normal = " ".join(text.lower().split())
    time_match = _TIME.search(normal)
    if time_match is None:
        return None
    hour_text, minute_text, alle, ampm_hour, ampm = time_match.groups()
    hour = int(hour_text or alle or ampm_hour)
    minute = int(minute_text or 0)
    if ampm == "pm" and hour < 12:
        hour += 12
    if hour > 23 or minute > 59:
        return None
    local_now = calendar.local(now)
    day: date | None = None
    date_match = _DATE.search(normal)
    if date_match is not None:
        d, m, y = date_match.groups()
        year = int(y) + (2000 if y and len(y) == 2 else 0) if y else local_now.year
        try:
            day = date(year, int(m), int(d))
        except ValueError:
            return None
        if not y and day < local_now.date():
            day = date(year + 1, int(m), int(d))
    elif re.search(r"\b(dopodomani|day after tomorrow)\b", normal):
        day = local_now.date() + timedelta(days=2)
    elif re.search(r"\b(domani|tomorrow)\b", normal):
        day = local_now.date() + timedelta(days=1)
    elif re.search(r"\b(oggi|today)\b", normal):
        day = local_now.date()
    if day is None:
        day = local_now.date()
        if datetime.combine(day, time(hour, minute), calendar.zone) <= local_now:
            day += timedelta(days=1)
    return datetime.combine(day, time(hour, minute), calendar.zone)


# Opening the ticket (chat dialogue and widget form)


@dataclass(frozen=True)
class ContactResult:
    ticket: Ticket
    expected_answer_at: datetime
    expected_answer_text: str
    message: str
    contact_method: str
    contact: str
    confirmation_via: str | None
    time_zone: str

    def meta(self) -> dict[str, Any]:
        """What the widget's ticket confirmation shows, stored on the chat's confirmation message."""
        return {
            "ticket_number": self.ticket.number,
            "expected_answer_at": self.expected_answer_at.isoformat(),
            "contact_method": self.contact_method,
            "contact": self.contact,
            "confirmation_via": self.confirmation_via,
            "time_zone": self.time_zone,
        }


async def open_ticket(
    rt: Runtime, session: AsyncSession, conv: Conversation, req: ContactRequest, now: datetime
) -> ContactResult:
    """The ticket for a completed contact request, and the sentence promising the answer."""
    ticket = await tickets.create_ticket(
        session,
        rt.settings,
        tickets.NewTicket(
            contact_method=str(req.method),
            conversation_id=conv.id,
            email=req.email,
            phone=req.phone,
            callback_at=req.callback_at,
            consent_at=req.consent_at,
            source="chat",
        ),
        actor_type="visitor",
        now=now,
    )
    req.step, req.ticket_id = "done", ticket.id
    audit.record(
        session, "ticket", ticket.id, "contact_consent", actor_type="visitor",
        data={"method": req.method, "consent_at": now.isoformat(), "text": req.consent_text},
    )
    calendar = sla.sla_config(rt.settings).calendar
    lang = conv.language
    if req.method == M.PHONE and req.callback_at is not None:
        expected = req.callback_at
        when = calendar.describe_moment(expected, lang, now=now)
        promise = say("promise_call", lang, phone=req.phone, when=when)
    else:
        assert ticket.first_response_due_at is not None
        expected = ticket.first_response_due_at
        when = calendar.describe_moment(expected, lang, now=now)
        how = say(f"how_{req.method}", lang, email=req.email, phone=req.phone)
        promise = say("promise_written", lang, how=how, when=when)
    message = say("done", lang, number=ticket.number, promise=promise)
    method = str(req.method)
    # The ticket-opened notice (with its reopen link) goes where the notifications will send it.
    via = customer_channel(method, req.email, req.phone)
    return ContactResult(
        ticket, expected, when, message, contact_method=method,
        contact=(req.email if method == M.EMAIL else req.phone) or "",
        confirmation_via=via[0] if via else None, time_zone=calendar.zone.key,
    )


class ContactFieldErrors(Exception):
    """The widget form had wrong fields: one sentence each."""

    def __init__(self, fields: dict[str, str], lang: str) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields
        self.lang = lang


@dataclass
class ContactForm:
    method: str
    email: str | None
    phone: str | None
    callback_slot: str | None
    consent: bool
    language: str | None = None


def check_form(
    form: ContactForm, calendar: BusinessCalendar, now: datetime, lang: str, horizon_days: int
) -> tuple[str | None, str | None, datetime | None]:
    """(email, phone in E.164, callback slot) of a valid form; ContactFieldErrors otherwise."""
    errors: dict[str, str] = {}
    email = phone = None
    slot: datetime | None = None
    it = lang.startswith("it")
    if form.method not in COLLECTABLE:
        errors["method"] = (
            "Scegli email, whatsapp, sms o phone." if it else "Choose email, whatsapp, sms or phone."
        )
    if form.method == M.EMAIL:
        try:
            email = check_email(form.email or "", lang)
        except ContactError as exc:
            errors["email"] = str(exc)
    elif form.method in (M.WHATSAPP, M.SMS, M.PHONE):
        try:
            phone = check_phone(form.phone or "", lang, mobile=form.method != M.PHONE)
        except ContactError as exc:
            errors["phone"] = str(exc)
    if form.method == M.PHONE:
        if not form.callback_slot:
            errors["callback_slot"] = (
                "Indica quando preferisci essere chiamato." if it else "Tell us when you would like a call."
            )
        else:
            try:
                parsed = datetime.fromisoformat(form.callback_slot)
            except ValueError:
                errors["callback_slot"] = (
                    "Orario non valido: usa il formato 2025-12-01T10:00:00+01:00."
                    if it else "Invalid time: use the format 2025-12-01T10:00:00+01:00."
                )
            else:
                try:
                    slot = check_callback_slot(parsed, calendar, now, lang, horizon_days=horizon_days)
                except ContactError as exc:
                    errors["callback_slot"] = str(exc)
    if form.consent is not True:
        errors["consent"] = (
            "Serve il tuo consenso per poterti ricontattare."
            if it else "We need your consent to contact you."
        )
    if errors:
        raise ContactFieldErrors(errors, lang)
    return email, phone, slot


async def submit_contact(
    rt: Runtime, conversation_id: uuid.UUID | str, token: str | None, form: ContactForm
) -> ContactResult:
    """The widget's contact form: check every field, then open the ticket as the chat would.

    Allowed while the conversation is with the assistant or awaiting a contact; 409 otherwise.
    """
    now = clock(rt)
    config = sla.sla_config(rt.settings)
    async with rt.db.scope() as session:
        conv = await conversations.get_for_visitor(session, conversation_id, token)
        if form.language:
            # The visitor's own choice in the widget, as the assistant's detection would set it.
            conv.language = form.language
        lang = conv.language
        email, phone, slot = check_form(
            form, config.calendar, now, lang, rt.settings.callback_horizon_days
        )
        if conv.status == S.TICKETED:
            existing = await tickets.ticket_for_conversation(session, conv.id)
            number = existing.number if existing else "?"
            raise Conflict(f"this conversation already has ticket {number}")
        if conv.status not in (S.BOT, S.AWAITING_CONTACT):
            raise Conflict(
                f"the conversation is '{conv.status}': leave the queue or end the chat first"
            )
        if conv.status == S.BOT:
            await conversations.transition(
                session, conv, S.AWAITING_CONTACT, actor_type="visitor", reason="contact form"
            )
        req = await _request(session, conv, now)
        _reset(req, now, req.reason or "contact form")
        req.method, req.email, req.phone, req.callback_at = form.method, email, phone, slot
        req.consent_at = now
        req.consent_text = "widget form: consent=true"
        result = await open_ticket(rt, session, conv, req, now)
        await _post(session, conv, result.message, kind="contact.done", **result.meta())
    return result


@dataclass(frozen=True)
class ContactOptions:
    methods: tuple[str, ...]
    callback_slots: list[datetime]
    time_zone: str


async def contact_options(
    rt: Runtime, conversation_id: uuid.UUID | str, token: str | None
) -> ContactOptions:
    """What the widget's form offers: the contact methods and the call-back slots from now."""
    now = clock(rt)
    calendar = sla.sla_config(rt.settings).calendar
    async with rt.db.scope() as session:
        await conversations.get_for_visitor(session, conversation_id, token)
    return ContactOptions(
        methods=tuple(m.value for m in COLLECTABLE),
        callback_slots=offer_slots(calendar, now),
        time_zone=calendar.zone.key,
    )
