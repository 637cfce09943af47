"""The outbox worker as a real `sportello worker` process: SIGKILL mid-delivery, outages.

The SMTP server (aiosmtpd) and the Twilio emulator hold one request each until the test lets
go, so the kill provably lands while a delivery is in flight. What the receiving servers got is
counted by idempotency key: the email's Message-ID, and the `key` Sportello puts in the status
callback URL of every Twilio message (Twilio's API takes no idempotency key of its own).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from sportello.config import Settings
from sportello.notifications import inbound, outbox
from sportello.notifications.channels.email import message_id
from sportello.notifications.models import OutboxMessage
from sportello.runtime import Runtime
from tests.conftest import settings_env
from tests.fixtures.http_fakes import FakeTwilio
from tests.fixtures.servers import ProcessServer, Stall, WorkerProcess
from tests.fixtures.smtp_server import SmtpServer
from tests.operators.helpers import side_runtime

SENDER = "Sportello <help@shop.test>"
MAILS = [f"mail-{i}@example.com" for i in range(5)]
PHONES = [f"+3933300000{i:02d}" for i in range(5)]
STALLED = 3  # the mail and the SMS held by the servers
# A short lease so the test does not wait two minutes; the timeouts stay longer than the test's
# stalls, so the kill, not a timeout, ends the first worker's deliveries.
WORKER_ENV = {
    "SPORTELLO_OUTBOX_LEASE_SECONDS": "4",
    "SPORTELLO_OUTBOX_POLL_INTERVAL": "0.2",
    "SPORTELLO_OUTBOX_BACKOFF_BASE": "0.3",
    "SPORTELLO_OUTBOX_BACKOFF_MAX": "1",
    "SPORTELLO_OUTBOX_MAX_ATTEMPTS": "100",
    "SPORTELLO_SMTP_TIMEOUT": "120",
    "SPORTELLO_TICKER_INTERVAL": "1",
}
WAIT = 60.0  # generous: six engineers share two CPUs


def channel_env(smtp: SmtpServer, twilio: FakeTwilio, public_url: str) -> dict[str, str]:
    return {
        "SPORTELLO_PUBLIC_URL": public_url,
        "SPORTELLO_SMTP_HOST": "127.0.0.1",
        "SPORTELLO_SMTP_PORT": str(smtp.port),
        "SPORTELLO_SMTP_SECURITY": "none",
        "SPORTELLO_SMTP_FROM": SENDER,
        "SPORTELLO_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "SPORTELLO_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "SPORTELLO_TWILIO_SMS_FROM": "+15005550006",
        "SPORTELLO_TWILIO_API_URL": twilio.base_url,
    }


@pytest.fixture
def processes() -> Iterator[list[WorkerProcess | ProcessServer]]:
    started: list[WorkerProcess | ProcessServer] = []
    yield started
    for proc in started:
        proc.stop()


def start_worker(
    started: list[WorkerProcess | ProcessServer], settings: Settings, tmp_path: Path, **env: str
) -> WorkerProcess:
    log = tmp_path / f"worker-{len(started)}.log"
    worker = WorkerProcess({**settings_env(settings), **WORKER_ENV, **env}, log).start()
    started.append(worker)
    return worker


async def enqueue_batch(rt: Runtime, mails: list[str], phones: list[str]) -> None:
    async with rt.db.scope() as session:
        for i, address in enumerate(mails):
            await outbox.enqueue(
                session,
                kind="message",
                channel="email",
                recipient=address,
                payload={"subject": f"Aggiornamento {i}", "text": f"Testo {i}"},
                idempotency_key=f"mail:{address}",
            )
        for i, phone in enumerate(phones):
            await outbox.enqueue(
                session,
                kind="ticket.opened",
                channel="sms",
                recipient=phone,
                payload={"number": f"T-{i:06d}"},
                idempotency_key=f"sms:{phone}",
            )


async def rows(rt: Runtime) -> dict[str, OutboxMessage]:
    async with rt.db.scope() as session:
        result = await session.execute(
            select(OutboxMessage).execution_options(populate_existing=True)
        )
        return {row.idempotency_key: row for row in result.scalars()}


async def until(
    check: Callable[[], Awaitable[bool] | bool], what: str, workers: list[WorkerProcess]
) -> None:
    """Wait for `check`; on time-out, fail saying `what` and showing the workers' logs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        done = check()
        if done if isinstance(done, bool) else await done:
            return
        if loop.time() > deadline:
            logs = "\n".join(w.log()[-3000:] for w in workers)
            raise AssertionError(f"{what}: not within {WAIT:g}s\n{logs}")
        await asyncio.sleep(0.1)


async def reached(stall: Stall, what: str) -> None:
    assert await asyncio.to_thread(stall.reached.wait, WAIT), f"{what} was never reached"


def twilio_key(form: dict[str, str]) -> str:
    """The idempotency key (digest) a message carries in its status callback URL."""
    return parse_qs(urlsplit(form["StatusCallback"]).query)["key"][0]


async def all_sent(rt: Runtime, expected: int) -> bool:
    states = [row.state for row in (await rows(rt)).values()]
    return len(states) == expected and all(s == "sent" for s in states)


@pytest.mark.slow
async def test_worker_killed_mid_delivery_delivers_everything_once(
    settings: Settings,
    smtp: SmtpServer,
    twilio: FakeTwilio,
    processes: list[WorkerProcess | ProcessServer],
    tmp_path: Path,
) -> None:
    """Kill -9 with a mail held before the server's 250 and an SMS Twilio accepted but had not
    answered; a second worker delivers the rest, and no key reaches a server twice."""
    # `sportello serve` receives Twilio's status callbacks, as in production.
    web = ProcessServer({}, tmp_path / "serve.log")
    web.env.update(
        {
            **settings_env(settings),
            **channel_env(smtp, twilio, web.base_url),
            "SPORTELLO_OUTBOX_WORKER_ENABLED": "false",
            "SPORTELLO_TICKER_ENABLED": "false",
        }
    )
    processes.append(web.start())
    twilio.status_callbacks = True
    held_mail = smtp.stall(MAILS[STALLED], on="data")
    held_sms = twilio.stall(PHONES[STALLED])
    env = channel_env(smtp, twilio, web.base_url)
    async with side_runtime(settings) as rt:
        await enqueue_batch(rt, MAILS, PHONES)
        mail_key, sms_key = f"mail:{MAILS[STALLED]}", f"sms:{PHONES[STALLED]}"
        first = start_worker(processes, settings, tmp_path, **env)
        await reached(held_mail, "the held DATA")
        await reached(held_sms, "the held Twilio request")

        async def only_held_mail_unsent() -> bool:
            # Everything else went out; the held SMS was adopted from Twilio's status callback.
            unsent = [k for k, row in (await rows(rt)).items() if row.state != "sent"]
            return unsent == [mail_key]

        await until(only_held_mail_unsent, "the batch around the held requests", [first])
        before = await rows(rt)
        assert (before[mail_key].state, before[mail_key].attempts) == ("sending", 1)
        [(held_sid, _)] = [(sid, f) for sid, f in twilio.accepted if f["To"] == PHONES[STALLED]]
        assert before[sms_key].provider_message_id == held_sid  # from the callback, not the worker
        assert not held_mail.released.is_set() and not held_sms.released.is_set()

        first.kill()
        # The mail's client vanished before the server said 250: the mail was not taken.
        await until(lambda: len(smtp.abandoned) == 1, "the SMTP server seeing the kill", [])
        held_mail.released.set()
        held_sms.released.set()  # Twilio's answer goes to a dead socket

        second = start_worker(processes, settings, tmp_path, **env)
        await until(
            lambda: all_sent(rt, len(MAILS) + len(PHONES)),
            "every notification sent after the restart",
            [first, second],
        )
        await asyncio.sleep(1.0)  # a few more passes of the second worker: nothing more goes out
        after = await rows(rt)

    expected_ids = {message_id(f"mail:{a}", SENDER) for a in MAILS}
    assert Counter(str(m.message["Message-ID"]) for m in smtp.messages) == dict.fromkeys(
        expected_ids, 1
    )
    [abandoned] = smtp.abandoned
    assert abandoned.message["Message-ID"] == message_id(mail_key, SENDER)
    assert Counter(twilio_key(form) for _, form in twilio.accepted) == {
        outbox.key_digest(f"sms:{p}"): 1 for p in PHONES
    }
    assert {sid for sid, _ in twilio.accepted} == {after[f"sms:{p}"].provider_message_id for p in PHONES}
    assert twilio.callback_answers and all(code == 204 for _, code in twilio.callback_answers)
    attempts = {key: row.attempts for key, row in after.items()}
    assert attempts == {**dict.fromkeys(attempts, 1), mail_key: 2}


@pytest.mark.slow
async def test_killed_after_the_provider_accepted(
    settings: Settings,
    smtp: SmtpServer,
    twilio: FakeTwilio,
    processes: list[WorkerProcess | ProcessServer],
    tmp_path: Path,
) -> None:
    """The window no outbox closes: the provider has the message, the worker dies before it
    records it. Delivery is at least once; the copies carry the same key, for the receiver."""
    held_mail = smtp.stall(MAILS[0], on="quit")  # after the 250: the mail is accepted
    held_sms = twilio.stall(PHONES[0])  # accepted; no status callback comes back (none is sent)
    env = channel_env(smtp, twilio, "http://sportello.test")
    async with side_runtime(settings) as rt:
        await enqueue_batch(rt, MAILS[:2], PHONES[:2])
        mail_key, sms_key = f"mail:{MAILS[0]}", f"sms:{PHONES[0]}"
        first = start_worker(processes, settings, tmp_path, **env)
        await reached(held_mail, "the held QUIT")
        await reached(held_sms, "the held Twilio request")

        async def others_sent() -> bool:
            unsent = {k for k, row in (await rows(rt)).items() if row.state != "sent"}
            return unsent == {mail_key, sms_key}

        await until(others_sent, "the other two notifications", [first])
        first.kill()
        held_mail.released.set()
        held_sms.released.set()
        second = start_worker(processes, settings, tmp_path, **env)
        await until(lambda: all_sent(rt, 4), "every notification sent after the restart", [first, second])
        after = await rows(rt)
        # A late report of the first copy finds the row already sent by another message:
        # it changes nothing (and is logged as a duplicate).
        first_sid = next(sid for sid, f in twilio.accepted if f["To"] == PHONES[0])
        query = {"outbox": str(after[sms_key].id), "key": outbox.key_digest(sms_key)}
        report = {"MessageSid": first_sid, "MessageStatus": "delivered"}
        assert await inbound.status_callback(rt, report, query) == "ignored"
        assert (await rows(rt))[sms_key].provider_message_id == after[sms_key].provider_message_id

    mail_ids = Counter(str(m.message["Message-ID"]) for m in smtp.messages)
    assert mail_ids == {message_id(mail_key, SENDER): 2, message_id(f"mail:{MAILS[1]}", SENDER): 1}
    sms_keys = Counter(twilio_key(form) for _, form in twilio.accepted)
    assert sms_keys == {outbox.key_digest(sms_key): 2, outbox.key_digest(f"sms:{PHONES[1]}"): 1}
    copies = [sid for sid, f in twilio.accepted if f["To"] == PHONES[0]]
    assert after[sms_key].provider_message_id == copies[1] != copies[0]
    assert (after[mail_key].attempts, after[sms_key].attempts) == (2, 2)


@pytest.mark.slow
async def test_outages_only_delay_a_worker_process(
    settings: Settings,
    smtp: SmtpServer,
    twilio: FakeTwilio,
    processes: list[WorkerProcess | ProcessServer],
    tmp_path: Path,
) -> None:
    """SMTP down then up, Twilio 500s then success: the running worker retries and delivers once."""
    smtp.stop()
    for _ in range(3):
        twilio.fail(20500, status=500, message="Internal Server Error")
    async with side_runtime(settings) as rt:
        await enqueue_batch(rt, MAILS[:2], PHONES[:2])
        worker = start_worker(
            processes, settings, tmp_path, **channel_env(smtp, twilio, "http://sportello.test")
        )

        async def retrying() -> bool:
            now = await rows(rt)
            mails = [now[f"mail:{a}"] for a in MAILS[:2]]
            sms = [now[f"sms:{p}"] for p in PHONES[:2]]
            return (
                all(r.attempts >= 2 and "SMTP unreachable" in (r.last_error or "") for r in mails)
                and all(r.state == "sent" for r in sms)
            )

        await until(retrying, "mails retried while SMTP is down, SMS through after the 500s", [worker])
        states = {row.state for key, row in (await rows(rt)).items() if key.startswith("mail:")}
        assert states <= {"pending", "sending"}  # waiting, not dead
        assert smtp.messages == []
        smtp.start()
        await until(lambda: all_sent(rt, 4), "the mails once SMTP is back", [worker])
        await asyncio.sleep(1.0)
        after = await rows(rt)

    assert Counter(str(m.message["Message-ID"]) for m in smtp.messages) == {
        message_id(f"mail:{a}", SENDER): 1 for a in MAILS[:2]
    }
    assert Counter(twilio_key(form) for _, form in twilio.accepted) == {
        outbox.key_digest(f"sms:{p}"): 1 for p in PHONES[:2]
    }
    assert len(twilio.messages()) == 5  # three answered 500, two accepted
    assert sum(after[f"sms:{p}"].attempts for p in PHONES[:2]) == 5
