"""Demo data for a first look: idempotent, safe to run on every `make run`."""

from __future__ import annotations

import json
import secrets

from sqlalchemy import func, select

from sportello.assistant.cli import demo_kb_text
from sportello.assistant.kb import load_kb_yaml
from sportello.assistant.models import KBTopic
from sportello.assistant.service import replace_topics
from sportello.config import Settings
from sportello.operators.models import Operator
from sportello.operators.schemas import OperatorCreate
from sportello.operators.service import create_operator
from sportello.runtime import Runtime

DEMO_OPERATORS = (
    {"email": "admin@lucine.example", "name": "Chiara (admin)", "role": "admin", "tier": 3, "languages": ["it", "en"]},
    {"email": "sara@lucine.example", "name": "Sara", "role": "supervisor", "tier": 2, "languages": ["it", "en"]},
    {"email": "luca@lucine.example", "name": "Luca", "role": "agent", "tier": 1, "languages": ["it"]},
)


async def load_demo(settings: Settings) -> str:
    """Load what the demo needs (knowledge base, operators) when missing; a summary to print.

    Demo operators get random passwords, written once to `var/demo-operators.json` (mode 600)
    and shown again on every run; no password is ever fixed in the code.
    """
    rt = Runtime(settings)
    lines = []
    credentials_file = settings.data_dir / "demo-operators.json"
    try:
        async with rt.db.scope() as session:
            topics = (await session.execute(select(func.count(KBTopic.id)))).scalar_one()
            if topics == 0:
                summary = await replace_topics(session, load_kb_yaml(demo_kb_text()), actor_type="demo")
                lines.append(f"knowledge base: {summary['total']} demo topics loaded")
            else:
                lines.append(f"knowledge base: {topics} topics already there, left as they are")
            operators = (await session.execute(select(func.count(Operator.id)))).scalar_one()
            credentials: list[dict[str, str]] = []
            if operators == 0:
                for spec in DEMO_OPERATORS:
                    password = secrets.token_urlsafe(12)
                    await create_operator(session, OperatorCreate(password=password, **spec))
                    credentials.append({"email": str(spec["email"]), "password": password, "role": str(spec["role"])})
                settings.data_dir.mkdir(parents=True, exist_ok=True)
                credentials_file.write_text(json.dumps(credentials, indent=2))
                credentials_file.chmod(0o600)
                lines.append(f"operators: {len(credentials)} demo operators created")
            elif credentials_file.exists():
                credentials = json.loads(credentials_file.read_text())
                lines.append(f"operators: {operators} already there")
            for c in credentials:
                lines.append(f"  dashboard login ({c['role']}): {c['email']} / {c['password']}")
        return "\n".join(lines)
    finally:
        await rt.db.dispose()
