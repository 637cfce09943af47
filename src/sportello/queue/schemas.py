"""Request and response bodies of the queue and live-chat API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class QueueInfo(BaseModel):
    position: int
    estimated_wait_seconds: int | None


class QueueItem(BaseModel):
    conversation_id: uuid.UUID
    position: int
    priority: str
    language: str
    reason: str | None
    skills: list[str]
    min_tier: int
    enqueued_at: datetime
    waited_seconds: int
    estimated_wait_seconds: int | None


class HandoffRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="visitor asked for a person", max_length=200)


class HandoffRead(BaseModel):
    outcome: Literal["queued", "closed", "no_operator", "already"]
    status: str
    position: int | None = None
    estimated_wait_seconds: int | None = None
    next_opening: datetime | None = None


class LeaveQueue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    leave_contact: bool = Field(default=False, description="True: go to contact collection instead.")


class RatingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=4000)


class NoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: uuid.UUID
    operator_id: uuid.UUID | None
    body: str
    created_at: datetime


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator_id: uuid.UUID | None = None
    tier: int | None = Field(default=None, ge=1, le=3)


class ChatRead(BaseModel):
    id: uuid.UUID
    status: str
    language: str
    priority: str | None
    last_seq: int
    last_activity_at: datetime


class CannedReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_\-]+$")
    language: str = Field(min_length=2, max_length=8)
    title: str = Field(min_length=1, max_length=120)
    body: str = Field(min_length=1, max_length=4000)


class CannedReplyRead(CannedReplyCreate):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: int
