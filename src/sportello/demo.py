"""Demo data for a first look: idempotent, safe to run on every `make run`."""

from __future__ import annotations

from sqlalchemy import func, select

from sportello.assistant.cli import demo_kb_text
from sportello.assistant.kb import load_kb_yaml
from sportello.assistant.models import KBTopic
from sportello.assistant.service import replace_topics
from sportello.config import Settings
from sportello.runtime import Runtime


async def load_demo(settings: Settings) -> str:
    """Load what the demo needs (the demo knowledge base when none is loaded); a summary."""
    rt = Runtime(settings)
    lines = []
    try:
        async with rt.db.scope() as session:
            topics = (await session.execute(select(func.count(KBTopic.id)))).scalar_one()
            if topics == 0:
                summary = await replace_topics(session, load_kb_yaml(demo_kb_text()), actor_type="demo")
                lines.append(f"knowledge base: {summary['total']} demo topics loaded")
            else:
                lines.append(f"knowledge base: {topics} topics already there, left as they are")
        return "\n".join(lines)
    finally:
        await rt.db.dispose()
