"""Load shedding: questions beyond the embedding queue limit are answered from lexical signals alone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

from sportello.app import create_app
from sportello.assistant import service
from sportello.assistant.engine import Assistant, build_assistant
from sportello.assistant.kb import Topic
from sportello.assistant.service import replace_topics
from sportello.config import Settings
from tests.assistant.test_engine import _WordEmbedder

QUESTION = "dove posso parcheggiare la macchina?"


class _SaturatedEmbedder(_WordEmbedder):
    """Once armed, every query embedding blocks until released: an embedder that cannot keep up."""

    def __init__(self) -> None:
        self.armed = False
        self.release = threading.Event()
        self.entered = 0
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], is_query: bool) -> Any:
        if self.armed and is_query and len(texts) == 1:
            with self._lock:
                self.entered += 1
            assert self.release.wait(30), "the test never released the embedder"
        return super().encode(texts, is_query)


@pytest.fixture
async def shedding_client(
    settings: Settings, lucine_topics: list[Topic], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, _SaturatedEmbedder]]:
    embedder = _SaturatedEmbedder()
    monkeypatch.setattr(service, "build_assistant", lambda topics, *a: Assistant(topics, embedder=embedder))
    app = create_app(settings.model_copy(update={"assistant_embedding_queue": 2}))
    async with app.router.lifespan_context(app):
        rt = app.state.runtime
        async with rt.db.scope() as session:
            await replace_topics(session, lucine_topics, actor_type="test")
        await service.warm_up(rt)
        embedder.armed = True
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            http.app = app  # type: ignore[attr-defined]
            try:
                yield http, embedder
            finally:
                embedder.release.set()
                await rt.idle()


async def _ask(http: httpx.AsyncClient) -> dict[str, Any]:
    conv = (await http.post("/api/v1/conversations", json={"language": "it"})).json()
    r = await http.post(
        f"/api/v1/conversations/{conv['id']}/messages", json={"body": QUESTION},
        headers={"Authorization": f"Bearer {conv['token']}"},
    )
    assert r.status_code == 201, r.text
    return dict(conv)


async def _answer(http: httpx.AsyncClient, conv: dict[str, Any]) -> dict[str, Any]:
    for _ in range(500):
        msgs = (await http.get(
            f"/api/v1/conversations/{conv['id']}/messages", headers={"Authorization": f"Bearer {conv['token']}"}
        )).json()
        answers = [m for m in msgs if m["sender"] == "assistant"]
        if answers:
            return dict(answers[0])
        await asyncio.sleep(0.02)
    raise AssertionError("the assistant never answered")


async def test_question_beyond_the_embedding_queue_is_answered_lexically(
    shedding_client: tuple[httpx.AsyncClient, _SaturatedEmbedder], lucine_topics: list[Topic]
) -> None:
    http, embedder = shedding_client
    rt = http.app.state.runtime  # type: ignore[attr-defined]
    held = [await _ask(http), await _ask(http)]
    for _ in range(500):
        if embedder.entered == 2:
            break
        await asyncio.sleep(0.02)
    assert embedder.entered == 2

    third = await _answer(http, await _ask(http))
    lexical = build_assistant(lucine_topics, semantic=False).reply(QUESTION, "it")
    assert third["metadata"]["embeddings"] == "shed"
    assert third["metadata"]["topic_id"] == lexical.topic_id is not None
    assert third["body"] == lexical.answer
    assert embedder.entered == 2  # the shed question never reached the embedder
    assert rt.metrics.registry.get_sample_value("sportello_assistant_embeddings_shed_total") == 1.0

    embedder.release.set()
    for conv in held:
        answer = await _answer(http, conv)
        assert "embeddings" not in answer["metadata"]
    # The queue drained: the next question uses embeddings again.
    fourth = await _answer(http, await _ask(http))
    assert "embeddings" not in fourth["metadata"] and embedder.entered == 3
    assert rt.metrics.registry.get_sample_value("sportello_assistant_embeddings_shed_total") == 1.0


class _BrokenAssistant(Assistant):
    def reply(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ranking blew up")


async def test_a_fault_in_ranking_still_answers_and_offers_a_person(
    settings: Settings, lucine_topics: list[Topic], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "build_assistant", lambda topics, *a: _BrokenAssistant(topics))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        rt = app.state.runtime
        async with rt.db.scope() as session:
            await replace_topics(session, lucine_topics, actor_type="test")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            answer = await _answer(http, await _ask(http))
        await rt.idle()
    assert answer["body"] == service.canned("failed", "it")
    assert answer["metadata"]["topic_id"] is None
    assert answer["metadata"]["quick_replies"], "the visitor is offered a person"
