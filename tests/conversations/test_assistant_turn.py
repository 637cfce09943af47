"""The assistant answers in a conversation, over the visitor's WebSocket."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx

from sportello.assistant.engine import build_assistant
from sportello.assistant.kb import load_kb_file
from sportello.assistant.service import replace_topics
from sportello.config import Settings
from sportello.runtime import Runtime
from tests.fixtures.clients import VisitorSocket
from tests.fixtures.servers import ThreadServer
from tests.fixtures.shared import LUCINE_KB, lucine_questions


async def _load_kb(settings: Settings) -> None:
    rt = Runtime(settings)
    try:
        async with rt.db.scope() as session:
            await replace_topics(session, load_kb_file(LUCINE_KB))
    finally:
        await rt.db.dispose()


async def _converse(live: ThreadServer, text: str, headers: dict[str, str] | None = None) -> tuple[VisitorSocket, dict]:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        conv = (await http.post("/api/v1/conversations", json={}, headers=headers or {})).json()
    sock = await VisitorSocket.connect(live.ws_url, conv["id"], conv["token"])
    await sock.send({"type": "message", "body": text, "client_message_id": "q1"})
    await sock.until_seq(2, timeout=30)
    return sock, conv


async def test_in_scope_questions_are_answered_in_the_visitors_language(settings: Settings, live: ThreadServer) -> None:
    await _load_kb(settings)
    samples = [q for q in lucine_questions() if q["intent"] == "question" and q["expect"]]
    it = next(q for q in samples if q["lang"] == "it")
    en = next(q for q in samples if q["lang"] == "en")
    engine = build_assistant(load_kb_file(LUCINE_KB), semantic=False)
    for sample in (it, en, {"q": "parcheggio?", "lang": "it"}):
        expected = engine.reply(sample["q"])
        sock, _ = await _converse(live, sample["q"])
        visitor, answer = sock.messages[0], sock.messages[1]
        assert visitor["sender"] == "visitor" and answer["sender"] == "assistant"
        assert answer["metadata"]["intent"] == "question"
        assert answer["metadata"]["topic_id"] == expected.topic_id
        assert answer["body"] == expected.answer
        assert answer["metadata"]["lang"] == sample["lang"]
        assert 0 < answer["metadata"]["confidence"] <= 1
        assert answer["metadata"]["in_reply_to"] == visitor["id"]
        await sock.close()


async def test_a_changed_knowledge_base_answers_the_next_question(settings: Settings, live: ThreadServer) -> None:
    """The server learns of a KB change made elsewhere (`sportello kb import`) by the reply's own write."""
    await _load_kb(settings)
    question = "dove posso parcheggiare la macchina?"
    sock, _ = await _converse(live, question)
    topic_id = sock.messages[1]["metadata"]["topic_id"]
    await sock.close()
    topics = load_kb_file(LUCINE_KB)
    changed = next(t for t in topics if t.id == topic_id)
    texts = {lang: replace(text, answer=f"{text.answer} (aggiornato)") for lang, text in changed.texts.items()}
    rt = Runtime(settings)
    try:
        async with rt.db.scope() as session:
            await replace_topics(session, [replace(t, texts=texts) if t is changed else t for t in topics])
    finally:
        await rt.db.dispose()
    sock, _ = await _converse(live, question)
    assert sock.messages[1]["metadata"]["topic_id"] == topic_id
    assert sock.messages[1]["body"].endswith("(aggiornato)")
    await sock.close()


async def test_operator_request_hands_off(settings: Settings, live: ThreadServer) -> None:
    await _load_kb(settings)
    sock, _ = await _converse(live, "posso chiamare qualcuno?")
    answer = sock.messages[1]
    assert answer["sender"] == "assistant" and answer["metadata"]["intent"] == "operator"
    # The internal handoff event is not shown to the visitor.
    await sock.send({"type": "ping"})
    await sock.until(lambda f: f["type"] == "pong")
    assert all(f.get("type") != "handoff.requested" for f in sock.others)
    await sock.close()


async def test_small_talk_and_unsure_answers(settings: Settings, live: ThreadServer) -> None:
    await _load_kb(settings)
    sock, _ = await _converse(live, "grazie mille!")
    assert sock.messages[1]["metadata"]["intent"] == "smalltalk"
    await sock.close()
    sock, _ = await _converse(live, "what is the capital of Mongolia?")
    assert sock.messages[1]["metadata"]["lang"] == "en"
    unsure = sock.messages[1]
    assert unsure["metadata"]["topic_id"] is None
    assert unsure["metadata"]["quick_replies"][0]["label"] == "Talk to a person"
    await sock.close()


async def test_no_answer_while_not_with_the_bot(settings: Settings, live: ThreadServer) -> None:
    await _load_kb(settings)
    sock, conv = await _converse(live, "ciao")
    rt = Runtime(settings)
    try:
        from sportello.conversations import service
        from sportello.conversations.models import ConversationStatus

        async with rt.db.scope() as session:
            c = await service.get_conversation(session, conv["id"])
            await service.transition(session, c, ConversationStatus.QUEUED)
    finally:
        await rt.db.dispose()
    await sock.send({"type": "message", "body": "parcheggio?", "client_message_id": "q2"})
    await sock.until_seq(3)
    await asyncio.sleep(0.5)
    await sock.send({"type": "ping"})
    await sock.until(lambda f: f["type"] == "pong")
    assert [m["sender"] for m in sock.messages] == ["visitor", "assistant", "visitor"]
    await sock.close()


async def test_llm_rewrites_in_conversation_and_failure_keeps_retrieval_answer(settings: Settings) -> None:
    from tests.assistant.llm_stub import LLMStub

    await _load_kb(settings)
    stub = LLMStub(content="Puoi lasciare l'auto nei parcheggi indicati: trovi i dettagli qui sopra.")
    await stub.start()
    server = ThreadServer(settings.model_copy(update={"llm_base_url": stub.base_url, "llm_api_key": "k"})).start()
    try:
        sock, _ = await _converse(server, "dove posso parcheggiare la macchina? scrivetemi a mario@example.com")
        answer = sock.messages[1]
        assert answer["metadata"]["llm"] == "rewritten" and answer["body"] == stub.content
        assert answer["metadata"]["llm_tokens"] > 0
        sent = stub.requests[0]["json"]["messages"][-1]["content"]
        assert "mario@example.com" not in sent  # personal data is masked before it leaves
        await sock.close()
        stub.mode = "error"
        sock, _ = await _converse(server, "dove posso parcheggiare la macchina?")
        answer = sock.messages[1]
        assert answer["metadata"]["llm"] == "kept"
        assert answer["body"] == build_assistant(load_kb_file(LUCINE_KB), semantic=False).reply(
            "dove posso parcheggiare la macchina?"
        ).answer
        await sock.close()
    finally:
        server.stop()
        await stub.stop()
