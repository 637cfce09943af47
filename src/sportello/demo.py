"""Demo data for a first look: idempotent, safe to run on every `make run`."""

from __future__ import annotations

from sqlalchemy import func, select

from sportello.config import Settings
from sportello.conversations.models import Conversation
from sportello.runtime import Runtime


async def load_demo(settings: Settings) -> str:
    """Load what the demo needs; returns a one-line summary."""
    rt = Runtime(settings)
    try:
        async with rt.db.scope() as session:
            conversations = (await session.execute(select(func.count(Conversation.id)))).scalar_one()
        return f"demo data ready ({conversations} conversations stored)"
    finally:
        await rt.db.dispose()
