"""Request and response bodies of the conversation API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from sportello.config import get_settings

CLIENT_ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str | None = Field(
        default=None, description="Visitor language (`it`, `en`); detected when omitted."
    )
    page_url: str | None = Field(default=None, max_length=2048)
    customer_ref: str | None = Field(
        default=None, max_length=128, description="The shop's customer reference, if logged in."
    )
    customer_hmac: str | None = Field(
        default=None,
        max_length=128,
        description="HMAC-SHA256 of `customer_ref` with the widget identity secret, hex; "
        "without a valid one the reference is ignored.",
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


class QueueStatus(BaseModel):
    position: int
    estimated_wait_seconds: int | None
    wait_timed_out: bool = Field(
        default=False,
        description="The queue-wait time-out fired: the visitor is asked to keep waiting "
        "(`POST …/queue/keep-waiting`) or leave a contact (`POST …/queue/leave`).",
    )


class OperatorName(BaseModel):
    name: str


class ConversationRead(BaseModel):
    id: uuid.UUID
    status: str
    language: str
    channel: str
    created_at: datetime
    last_activity_at: datetime
    last_seq: int
    queue: QueueStatus | None = Field(
        default=None, description="Position and estimated wait while waiting for an operator."
    )
    operator: OperatorName | None = Field(
        default=None, description="The operator in the chat (live, or after it ended)."
    )
    rating: int | None = None


class ConversationCreated(ConversationRead):
    token: str = Field(description="Secret access token; keep it, it is shown only once.")


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, description="Plain text, at most 4000 characters.")
    client_message_id: str | None = Field(
        default=None,
        pattern=CLIENT_ID_PATTERN,
        description="Client-chosen id; a retried send with the same id is stored once.",
    )

    @field_validator("body")
    @classmethod
    def _body_limits(cls, value: str) -> str:
        limit = get_settings().message_max_chars
        if not value.strip():
            raise ValueError("message body must not be blank")
        if len(value) > limit:
            raise ValueError(f"message body is {len(value)} characters; the maximum is {limit}")
        return value


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: uuid.UUID
    seq: int
    sender: str
    body: str
    channel: str
    created_at: datetime
    metadata: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("meta", "metadata")
    )
    client_message_id: str | None = None
