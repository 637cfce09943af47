"""Request and response bodies of the ticket API and the widget's contact form."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sportello.config import get_settings

Status = Literal["open", "in_progress", "waiting_user", "resolved", "closed"]
PriorityName = Literal["low", "medium", "high", "urgent"]
Method = Literal["email", "whatsapp", "sms", "phone", "chat"]
SlaStateName = Literal["ok", "warning", "breached", "paused", "met"]
SortKey = Literal[
    "created_at", "-created_at", "updated_at", "-updated_at", "priority", "sla_due_at", "callback_at"
]

TAG_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,39}$"
MAX_TAGS = 20


def _clean_tags(value: object) -> object:
    """Tags are lowercase, trimmed, unique and short: `vip`, `refund`, `event-2025`."""
    if not isinstance(value, list):
        return value
    cleaned: list[str] = []
    for tag in value:
        if not isinstance(tag, str):
            raise ValueError("tags must be strings")
        tag = tag.strip().lower()
        if not re.match(TAG_PATTERN, tag):
            raise ValueError(f"tag {tag!r}: use 1-40 lowercase letters, digits, '-' or '_'")
        cleaned.append(tag)
    return list(dict.fromkeys(cleaned))


class TicketCreate(BaseModel):
    """A ticket opened by an operator: from a chat (`conversation_id`) or directly (a phone call)."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Derived from the conversation when omitted; required without one.",
    )
    description: str = Field(default="", max_length=20000)
    conversation_id: uuid.UUID | None = Field(
        default=None, description="The chat the ticket comes from; a new conversation otherwise."
    )
    priority: PriorityName | None = Field(
        default=None, description="Defaults to medium, one step higher for VIP customers."
    )
    contact_method: Method
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40, description="Any format; stored E.164.")
    callback_at: datetime | None = Field(
        default=None, description="For `phone`: the preferred call-back time, in business hours."
    )
    customer_ref: str | None = Field(default=None, max_length=128)
    language: Literal["it", "en"] | None = None
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    assignee_id: uuid.UUID | None = None

    _tags = field_validator("tags", mode="before")(classmethod(lambda cls, v: _clean_tags(v)))

    @field_validator("subject", "description")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None


class TicketUpdate(BaseModel):
    """Change one or more of status, priority, assignee and tags."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    priority: PriorityName | None = None
    assignee_id: uuid.UUID | None = Field(
        default=None, description="An operator id, or null to unassign."
    )
    tags: list[str] | None = Field(default=None, max_length=MAX_TAGS)

    _tags = field_validator("tags", mode="before")(classmethod(lambda cls, v: _clean_tags(v)))

    @model_validator(mode="after")
    def _something(self) -> TicketUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one of status, priority, assignee_id, tags")
        if "status" in self.model_fields_set and self.status is None:
            raise ValueError("status cannot be null")
        if "priority" in self.model_fields_set and self.priority is None:
            raise ValueError("priority cannot be null")
        if "tags" in self.model_fields_set and self.tags is None:
            raise ValueError("tags cannot be null; send [] to remove them all")
        return self


class TicketTierChange(BaseModel):
    """Move a ticket to another tier's pool by hand (supervisors and admins)."""

    model_config = ConfigDict(extra="forbid")

    tier: int = Field(ge=1, le=3, description="1 (agents), 2, or 3 (manager).")
    reason: str | None = Field(
        default=None, max_length=200, description="Kept in the ticket's history."
    )

    @field_validator("reason")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None


class TicketRead(BaseModel):
    id: uuid.UUID
    number: str = Field(examples=["LDN-000123"])
    subject: str
    description: str
    status: Status
    priority: PriorityName
    contact_method: Method
    email: str | None
    phone: str | None
    callback_at: datetime | None
    consent_at: datetime | None
    language: str
    customer_ref: str | None
    vip: bool
    assignee_id: uuid.UUID | None
    tier: int
    tags: list[str]
    conversation_id: uuid.UUID | None
    source: str
    created_at: datetime
    updated_at: datetime
    first_responded_at: datetime | None
    resolved_at: datetime | None
    first_response_due_at: datetime | None = Field(description="None while the clock is paused.")
    resolution_due_at: datetime | None = Field(description="None while the clock is paused.")
    sla_state: SlaStateName
    escalations: int


class TicketPage(BaseModel):
    items: list[TicketRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=10000)

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("note must not be blank")
        return value.strip()


class NoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    operator_id: uuid.UUID | None
    body: str
    created_at: datetime


class ReplyCreate(NoteCreate):
    """An operator's answer to the customer, stored in the ticket's conversation."""


class HistoryEntry(BaseModel):
    action: str
    actor_type: str
    actor_id: str | None
    data: dict[str, Any]
    created_at: datetime


class VipCustomerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_ref: str
    note: str | None
    created_at: datetime


class VipCustomerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_ref: str = Field(min_length=1, max_length=128)
    note: str | None = Field(default=None, max_length=200)


class ContactSubmit(BaseModel):
    """The widget's contact form. Fields are checked by the server, which answers per field."""

    method: str = Field(description="`email`, `whatsapp`, `sms` or `phone` (a call back).")
    email: str | None = Field(default=None, description="Required for `email`.")
    phone: str | None = Field(
        default=None, description="Required for `whatsapp`, `sms`, `phone`; default region IT."
    )
    callback_slot: str | None = Field(
        default=None,
        description="For `phone`: ISO 8601 time with offset, inside business hours.",
        examples=["2025-12-01T10:00:00+01:00"],
    )
    consent: bool = Field(description="The customer agrees to be contacted this way; must be true.")
    language: str | None = Field(
        default=None,
        description="The visitor's language in the widget (`it`, `en`): the language of the "
        "field errors and the confirmation, and from now on the conversation's. Default: unchanged.",
    )

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is None:
            return None
        lang = value.strip().lower()[:2]
        allowed = get_settings().languages
        if lang not in allowed:
            raise ValueError(f"language must be one of {', '.join(allowed)}")
        return lang


class ContactAccepted(BaseModel):
    ticket_number: str = Field(examples=["LDN-000123"])
    expected_answer_at: datetime = Field(
        description="The first-response due time of the SLA (on the business calendar), or the "
        "agreed call-back time for `phone`."
    )
    expected_answer_text: str = Field(description="The same, as told to the visitor.")
    message: str = Field(description="The confirmation posted in the chat.")
    contact_method: str = Field(description="`email`, `whatsapp`, `sms` or `phone`.")
    contact: str = Field(description="The email address, or the phone number in E.164.")
    confirmation_via: str | None = Field(
        description="Where the ticket-opened notice with the reopen link goes (`email`, `sms`, "
        "`whatsapp`), or null when there is no such channel."
    )
    time_zone: str = Field(description="The business time zone, to show `expected_answer_at` in.")


class ContactOptionsRead(BaseModel):
    methods: list[str] = Field(description="Contact methods the form may offer.", examples=[["email", "whatsapp", "sms", "phone"]])
    callback_slots: list[datetime] = Field(
        description="Call-back times to offer for `phone`: whole hours inside business hours, from "
        "an hour from now, in the business time zone (empty: do not offer a call back)."
    )
    time_zone: str = Field(description="The business time zone.", examples=["Europe/Rome"])


class ContactRejected(BaseModel):
    error: Literal["invalid_input"]
    message: str
    fields: dict[str, str] = Field(description="One sentence per wrong field.")
