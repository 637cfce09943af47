"""Vendors, reached only from here: each channel sends one rendered notification or says why not.

A channel returns a `Delivery` when the provider accepted the message and raises
`TransientError` (try again later) or `PermanentError` (never retry this row) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sportello.notifications.models import RecipientState


@dataclass(frozen=True)
class Job:
    """What a channel needs of one outbox row, detached from the database session."""

    id: int
    idempotency_key: str
    kind: str
    channel: str
    recipient: str
    language: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Delivery:
    provider_message_id: str | None = None
    status: str | None = None


class DeliveryError(Exception):
    def __init__(self, message: str, *, code: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientError(DeliveryError):
    """The provider is down, slow or rate-limiting: the row is retried with backoff."""


@dataclass
class Consequence:
    recipient_state: RecipientState | None = None
    fallback: bool = False
    drop_subscription: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class PermanentError(DeliveryError):
    """The provider refused this message for good; `consequence` says what we learnt."""

    def __init__(
        self,
        message: str,
        *,
        code: int | str | None = None,
        consequence: Consequence | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.consequence = consequence or Consequence()
