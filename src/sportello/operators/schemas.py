"""Request and response bodies of the operator and auth API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

RoleName = Literal["agent", "supervisor", "admin"]


def _csv_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip().lower() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [str(part).strip().lower() for part in value if str(part).strip()]
    return value


class OperatorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    role: str
    tier: int
    languages: list[str]
    skills: list[str]
    max_chats: int
    active: bool
    presence: str


class OperatorPublic(BaseModel):
    """What a visitor may know of the operator they talk to."""

    name: str


class OperatorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(min_length=1, max_length=120)
    password: str = Field(min_length=8, max_length=256)
    role: RoleName = "agent"
    tier: int = Field(default=1, ge=1, le=3)
    languages: list[str] = Field(default_factory=lambda: ["it"])
    skills: list[str] = Field(default_factory=list)
    max_chats: int = Field(default=3, ge=1, le=20)

    _lists = field_validator("languages", "skills", mode="before")(classmethod(lambda cls, v: _csv_list(v)))


class OperatorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    role: RoleName | None = None
    tier: int | None = Field(default=None, ge=1, le=3)
    languages: list[str] | None = None
    skills: list[str] | None = None
    max_chats: int | None = Field(default=None, ge=1, le=20)
    active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)

    _lists = field_validator("languages", "skills", mode="before")(classmethod(lambda cls, v: _csv_list(v)))


class LoginRequest(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=256)


class LoginResponse(BaseModel):
    token: str = Field(description="Bearer token for API clients (also set as the session cookie).")
    csrf_token: str = Field(description="Send as `X-CSRF-Token` on unsafe requests authenticated by cookie.")
    expires_at: datetime
    operator: OperatorRead


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


class PresenceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["online", "away"]
