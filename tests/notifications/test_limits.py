"""Daily limits on customer notifications, against the real SMTP server and the Twilio emulator.

Over a limit a notification is held (not sent, not lost): a supervisor sees it among the
undelivered notifications and may release it. Several workers claiming at once stay within the
limits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sportello.audit import AuditEvent
from sportello.config import Settings
from sportello.notifications import install, outbox
from sportello.notifications.models import OutboxMessage
from sportello.notifications.worker import deliver_due
from sportello.runtime import Runtime
from sportello.timeutil import utc_now
from tests.conftest import settings_env
from tests.fixtures.http_fakes import FakeTwilio
from tests.fixtures.smtp_server import SmtpServer
from tests.notifications.conftest import new_operator, runtime_of
from tests.operators.helpers import eventually

PHONE = "+393331234567"


@pytest.fixture
def nsettings(nsettings: Settings) -> Settings:
    return nsettings.model_copy(
        update={
            "limit_notifications_per_recipient_day": 3,
            "limit_sms_per_day": 5,
            "limit_emails_per_day": 4,
        }
    )


async def _enqueue(
    rt: Runtime, key: str, *, channel: str = "sms", recipient: str = PHONE, kind: str = "ticket.replied"
) -> None:
    async with rt.db.scope() as session:
        await outbox.enqueue(
            session,
            kind=kind,
            channel=channel,
            recipient=recipient,
            payload={"number": "LDN-000007", "subject": "Ordine", "reply": "Ecco la risposta"},
            idempotency_key=key,
        )


async def _states(rt: Runtime) -> dict[str, str]:
    async with rt.db.scope() as session:
        rows = await session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.state))
        return {key: state for key, state in rows.all()}


def _sample(metrics_text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in metrics_text.splitlines():
        if line.startswith(f"{name}{{{wanted}}}") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_per_recipient_limit_holds_then_a_supervisor_releases(
    api: httpx.AsyncClient, twilio: FakeTwilio, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    rt = runtime_of(api)
    _, supervisor = await new_operator(rt, role="supervisor")
    _, agent = await new_operator(rt, role="agent")
    sup = {"Authorization": f"Bearer {supervisor}"}
    for i in range(5):
        await _enqueue(rt, f"sms-{i}")
    await _enqueue(rt, "other-number", recipient="+393339999999")
    now = utc_now()
    with caplog.at_level(logging.WARNING, logger="sportello.notifications.limits"):
        assert await deliver_due(rt, now=now) == {"sent": 4}
    # Three to the number, one to someone else: the fourth and fifth are held, not sent.
    assert sorted(m["To"] for m in twilio.messages()) == [PHONE] * 3 + ["+393339999999"]
    states = await _states(rt)
    assert [states[f"sms-{i}"] for i in range(5)] == ["sent"] * 3 + ["held"] * 2
    assert await deliver_due(rt, now=now + timedelta(minutes=5)) == {}  # held rows are not retried
    held_logs = [r for r in caplog.records if r.getMessage() == "notification held by a daily limit"]
    assert len(held_logs) == 2 and all(r.__dict__["limit"] == "recipient" for r in held_logs)
    assert all("3331234567" not in str(vars(r)) for r in held_logs)  # logs carry no number

    # Supervisors see them with the reason; agents do not.
    assert (
        await api.get("/api/v1/notifications/dead-letters", headers={"Authorization": f"Bearer {agent}"})
    ).status_code == 403
    listed = (await api.get("/api/v1/notifications/dead-letters", headers=sup)).json()
    assert [(r["state"], r["held_by"]) for r in listed] == [("held", "recipient")] * 2
    channels = {c["channel"]: c for c in (await api.get("/api/v1/notifications/channels", headers=sup)).json()}
    assert channels["sms"]["held"] == 2 and channels["sms"]["pending"] == 0
    metrics = (await api.get("/metrics")).text
    assert _sample(metrics, "sportello_notifications_held_total", channel="sms", limit="recipient") == 2
    assert _sample(metrics, "sportello_outbox_held") == 2

    # A release sends it although the number's limit is still reached; the other stays held.
    released = await api.post(f"/api/v1/notifications/dead-letters/{listed[0]['id']}/retry", headers=sup)
    assert released.status_code == 200 and released.json()["state"] == "pending"
    assert await deliver_due(rt, now=now + timedelta(minutes=10)) == {"sent": 1}
    assert len(twilio.messages()) == 5
    async with rt.db.scope() as session:
        audit = (await session.execute(select(AuditEvent).where(AuditEvent.subject_type == "notification"))).scalars().all()
    assert [(a.subject_id, a.action) for a in audit] == [(str(listed[0]["id"]), "released")]

    # A day later the window has room again for new notifications; the held one still waits.
    await _enqueue(rt, "next-day")
    assert await deliver_due(rt, now=now + timedelta(hours=24, minutes=11)) == {"sent": 1}
    async with rt.db.scope() as session:
        still = await session.get(OutboxMessage, listed[1]["id"])
    assert still is not None and still.state == "held"
    assert list((await _states(rt)).values()).count("held") == 1


async def test_daily_totals_for_sms_and_email_spare_operator_mail(
    rt: Runtime, twilio: FakeTwilio, smtp: SmtpServer
) -> None:
    # SMS and WhatsApp share one budget of 5 (both are paid Twilio messages).
    for i in range(4):
        await _enqueue(rt, f"sms-{i}", recipient=f"+39333100000{i}")
    for i in range(3):
        # (outside WhatsApp's 24-hour window: sent with the approved template of ticket.opened)
        await _enqueue(rt, f"wa-{i}", channel="whatsapp", recipient=f"+39333200000{i}", kind="ticket.opened")
    for i in range(6):
        await _enqueue(rt, f"mail-{i}", channel="email", recipient=f"cliente{i}@example.com")
    # Operators' own alerts are not customer notifications: never held.
    for i in range(3):
        await _enqueue(rt, f"op-{i}", channel="email", recipient="sara@shop.test", kind="sla.breached")
    result = await deliver_due(rt, limit=50)
    assert result == {"sent": 5 + 4 + 3}
    states = await _states(rt)
    assert [states[f"sms-{i}"] for i in range(4)] == ["sent"] * 4
    assert [states[f"wa-{i}"] for i in range(3)] == ["sent", "held", "held"]
    assert [states[f"mail-{i}"] for i in range(6)] == ["sent"] * 4 + ["held"] * 2
    assert all(states[f"op-{i}"] == "sent" for i in range(3))
    async with rt.db.scope() as session:
        reasons = {
            key: error
            for key, error in await session.execute(
                select(OutboxMessage.idempotency_key, OutboxMessage.last_error).where(OutboxMessage.state == "held")
            )
        }
    assert reasons["wa-1"] == "held: the daily limit of SMS and WhatsApp messages is reached"
    assert reasons["mail-5"] == "held: the daily limit of emails is reached"
    assert len(twilio.messages()) == 5
    assert sum(1 for m in smtp.messages if m.recipients != ["sara@shop.test"]) == 4
    assert sum(1 for m in smtp.messages if m.recipients == ["sara@shop.test"]) == 3


async def test_a_notification_being_sent_counts_against_the_limit(rt: Runtime, smtp: SmtpServer) -> None:
    """A row claimed by a worker that has not recorded its outcome yet uses up the budget."""
    for i in range(5):
        await _enqueue(rt, f"m-{i}", channel="email", recipient="anna@example.com")
    from sportello.notifications.worker import claim

    now = utc_now()
    first = await claim(rt, now, 2)  # claimed, "in flight" (not sent, not recorded)
    assert len(first) == 2
    second = await claim(rt, now, 10)
    assert [c.job.idempotency_key for c in second] == ["m-2"]
    assert list((await _states(rt)).values()).count("held") == 2


@pytest.fixture
async def rt2(nsettings: Settings) -> AsyncIterator[Runtime]:
    """A second worker process's runtime: its own engine and connections on the same database."""
    runtime = Runtime(nsettings)
    await runtime.start()
    install(runtime)
    yield runtime
    await runtime.stop()


async def test_two_workers_claiming_at_once_stay_within_the_limit(
    rt: Runtime, rt2: Runtime, smtp: SmtpServer, twilio: FakeTwilio
) -> None:
    for i in range(12):
        await _enqueue(rt, f"mail-{i}", channel="email", recipient="anna@example.com")
    for i in range(12):
        await _enqueue(rt, f"sms-{i}", recipient=f"+39333300{i:04d}")

    async def drain(runtime: Runtime) -> list[dict[str, int]]:
        passes: list[dict[str, Any]] = []
        for _ in range(20):
            counts = await deliver_due(runtime, limit=1)  # small batches: many interleaved claims
            passes.append(counts)
            await asyncio.sleep(0)
        return passes

    await asyncio.gather(drain(rt), drain(rt2), drain(rt), drain(rt2))
    states = await _states(rt)
    assert [states[f"mail-{i}"] for i in range(12)].count("sent") == 3
    assert [states[f"sms-{i}"] for i in range(12)].count("sent") == 5
    assert list(states.values()).count("held") == 9 + 7
    assert len(smtp.messages) == 3 and len(twilio.messages()) == 5


@pytest.mark.slow
async def test_two_worker_processes_stay_within_the_limits(
    rt: Runtime, settings: Settings, smtp: SmtpServer, tmp_path: Path
) -> None:
    """Two `sportello worker` processes, configured by environment, drain one outbox together.

    End to end across processes; the race itself is forced (and fails without the claim lock)
    by `test_two_workers_claiming_at_once_stay_within_the_limit`, where claims interleave at
    every await: here the processes rarely claim at the same instant.
    """
    for i in range(15):
        await _enqueue(rt, f"anna-{i}", channel="email", recipient="anna@example.com")
    for i in range(10):
        await _enqueue(rt, f"other-{i}", channel="email", recipient=f"cliente{i}@example.com")
    env = {
        **os.environ,
        **settings_env(settings),
        "SPORTELLO_SMTP_HOST": "127.0.0.1",
        "SPORTELLO_SMTP_PORT": str(smtp.port),
        "SPORTELLO_SMTP_SECURITY": "none",
        "SPORTELLO_LIMIT_NOTIFICATIONS_PER_RECIPIENT_DAY": "3",
        "SPORTELLO_LIMIT_EMAILS_PER_DAY": "6",
        "SPORTELLO_OUTBOX_BATCH_SIZE": "1",  # one row per claim: as many racing claims as rows
        "SPORTELLO_OUTBOX_POLL_INTERVAL": "0.05",
    }
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sportello", "worker",
            env=env, stdout=(tmp_path / f"worker-{n}.log").open("ab"), stderr=subprocess.STDOUT,
        )
        for n in range(2)
    ]
    try:

        async def settled() -> bool:
            states = await _states(rt)
            return all(s in ("sent", "held") for s in states.values())

        await eventually(settled, timeout=60)
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            await asyncio.wait_for(proc.wait(), 10)
    states = await _states(rt)
    # Claimed in id order: three to Anna, then three others reach the day's six emails.
    assert [states[f"anna-{i}"] for i in range(15)] == ["sent"] * 3 + ["held"] * 12
    assert [states[f"other-{i}"] for i in range(10)] == ["sent"] * 3 + ["held"] * 7
    assert len(smtp.messages) == 6
    assert sorted(m.recipients[0] for m in smtp.messages)[:3] == ["anna@example.com"] * 3
