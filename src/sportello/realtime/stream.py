"""Gap-free, duplicate-free message streams for one socket."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

FetchAfter = Callable[[uuid.UUID, int], Awaitable[Sequence[dict[str, Any]]]]


class ConversationCursor:
    """Tracks the last sequence number sent for one conversation.

    Live events normally arrive in sequence order; when one arrives ahead of a gap (a
    process's event overtook another's, or the bus asked for a resync), the missing range
    is read back from the database, which already holds every message that was published.
    """

    def __init__(self, conversation_id: uuid.UUID, last_seq: int, fetch_after: FetchAfter) -> None:
        self.conversation_id = conversation_id
        self.last_seq = last_seq
        self._fetch_after = fetch_after

    async def catch_up(self) -> list[dict[str, Any]]:
        rows = await self._fetch_after(self.conversation_id, self.last_seq)
        out = [m for m in rows if m["seq"] > self.last_seq]
        if out:
            self.last_seq = out[-1]["seq"]
        return out

    async def accept(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages to send for a live `message`, in order (maybe none, maybe several)."""
        seq = int(message["seq"])
        if seq <= self.last_seq:
            return []
        if seq == self.last_seq + 1:
            self.last_seq = seq
            return [message]
        return await self.catch_up()
