from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sportello.assistant.engine import Assistant, build_assistant
from sportello.assistant.kb import Topic, load_kb_yaml
from tests.assistant.llm_stub import LLMStub

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "eval" / "lucine"


@pytest.fixture(scope="session")
def lucine_topics() -> list[Topic]:
    return load_kb_yaml(SHARED / "kb.yaml")


@pytest.fixture(scope="session")
def lexical_assistant(lucine_topics: list[Topic]) -> Assistant:
    return build_assistant(lucine_topics, semantic=False)


@pytest.fixture
async def llm_stub() -> AsyncIterator[LLMStub]:
    stub = LLMStub()
    await stub.start()
    yield stub
    await stub.stop()
