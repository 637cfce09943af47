"""Group commit of visitor messages: batches from two processes' writers on one database."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from sportello.config import Settings
from sportello.conversations import service
from sportello.conversations.intake import receive_visitor_message
from sportello.conversations.models import Conversation, Message
from sportello.conversations.schemas import ConversationCreate, MessageCreate, MessageRead
from sportello.errors import NotFound
from sportello.runtime import Runtime


async def test_two_writers_keep_one_gap_free_sequence_and_store_each_client_id_once(settings: Settings) -> None:
    """Two runtimes (two pools, as two processes) race on one conversation with shared retries."""
    a, b = Runtime(settings), Runtime(settings)
    await a.start()
    await b.start()
    try:
        async with a.db.scope() as session:
            conv, token = await service.create_conversation(session, ConversationCreate(), language="it", user_agent=None)
            other, other_token = await service.create_conversation(session, ConversationCreate(), language="en", user_agent=None)
        results: dict[str, list[MessageRead]] = {}

        async def sender(rt: Runtime, conv_id: uuid.UUID, tok: str, prefix: str, n: int) -> None:
            for i in range(n):
                # Every client id is sent by both runtimes: one of the two copies is a retry.
                cmid = f"{prefix}-{i}"
                message, _ = await receive_visitor_message(rt, conv_id, tok, MessageCreate(body=cmid, client_message_id=cmid))
                results.setdefault(cmid, []).append(message)

        await asyncio.gather(
            *(sender(rt, conv.id, token, f"s{k}", 15) for rt in (a, b) for k in range(4)),
            *(sender(rt, other.id, other_token, "o", 10) for rt in (a, b)),
        )
        async with a.db.scope() as session:
            for conv_id, expected in ((conv.id, 60), (other.id, 10)):
                rows = (
                    await session.execute(select(Message).where(Message.conversation_id == conv_id).order_by(Message.seq))
                ).scalars().all()
                assert [m.seq for m in rows] == list(range(1, expected + 1))
                assert len({m.client_message_id for m in rows}) == expected
                assert all(m.body == m.client_message_id for m in rows)
                stored = await session.get(Conversation, conv_id)
                assert stored is not None and stored.last_seq == expected
        # Both copies of a client id were answered with the one stored message.
        assert all(len({(m.id, m.seq) for m in copies}) == 1 and len(copies) == 2 for copies in results.values())
    finally:
        await a.stop()
        await b.stop()


async def test_a_wrong_token_in_a_batch_fails_only_its_own_message(settings: Settings) -> None:
    rt = Runtime(settings)
    await rt.start()
    try:
        async with rt.db.scope() as session:
            conv, token = await service.create_conversation(session, ConversationCreate(), language="it", user_agent=None)
        outcomes = await asyncio.gather(
            *(
                receive_visitor_message(rt, conv.id, token if i % 3 else "wrong", MessageCreate(body=f"m{i}", client_message_id=f"c{i}"))
                for i in range(9)
            ),
            receive_visitor_message(rt, "not-a-uuid", token, MessageCreate(body="x")),
            return_exceptions=True,
        )
        failed = [i for i, o in enumerate(outcomes) if isinstance(o, NotFound)]
        assert failed == [0, 3, 6, 9]
        stored = [o[0] for o in outcomes if isinstance(o, tuple)]
        assert sorted(m.seq for m in stored) == list(range(1, 7))
        assert all(m.sender == "visitor" and m.metadata == {} for m in stored)
    finally:
        await rt.stop()


async def test_a_bad_id_first_in_a_batch_does_not_shift_the_others(settings: Settings) -> None:
    rt = Runtime(settings)
    await rt.start()
    try:
        async with rt.db.scope() as session:
            conv, token = await service.create_conversation(session, ConversationCreate(), language="it", user_agent=None)
        # "0-…" sorts before every UUID, so it is first in the batch the writer stores.
        outcomes = await asyncio.gather(
            receive_visitor_message(rt, "0-not-a-uuid", token, MessageCreate(body="x")),
            *(receive_visitor_message(rt, conv.id, token, MessageCreate(body=f"m{i}", client_message_id=f"c{i}")) for i in range(3)),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], NotFound)
        stored = [o[0] for o in outcomes[1:] if isinstance(o, tuple)]
        assert [(m.body, m.client_message_id) for m in stored] == [(f"m{i}", f"c{i}") for i in range(3)]
    finally:
        await rt.stop()


async def test_a_batch_the_database_rejects_is_undone_and_stored_one_by_one(settings: Settings) -> None:
    """A message the database refuses (no body) fails alone; the others are each stored once.

    The statements that ran before the failure must be undone, or the one-by-one retry would
    store them twice.
    """
    rt = Runtime(settings)
    await rt.start()
    try:
        async with rt.db.scope() as session:
            conv, token = await service.create_conversation(session, ConversationCreate(), language="it", user_agent=None)
        bad = MessageCreate.model_construct(body=None, client_message_id=None)
        outcomes = await asyncio.gather(
            *(receive_visitor_message(rt, conv.id, token, bad if i == 2 else MessageCreate(body=f"m{i}")) for i in range(5)),
            return_exceptions=True,
        )
        assert [isinstance(o, Exception) for o in outcomes] == [False, False, True, False, False]
        async with rt.db.scope() as session:
            rows = (
                await session.execute(select(Message).where(Message.conversation_id == conv.id).order_by(Message.seq))
            ).scalars().all()
            stored = await session.get(Conversation, conv.id)
        # Sent concurrently, so in no particular order (on PostgreSQL each first awaits the
        # Redis rate limiter): each good one once, numbered without a gap.
        assert [m.seq for m in rows] == [1, 2, 3, 4]
        assert sorted(m.body for m in rows) == ["m0", "m1", "m3", "m4"]
        assert stored is not None and stored.last_seq == 4
    finally:
        await rt.stop()
