"""Email over STARTTLS and implicit TLS to a local aiosmtpd server with a certificate made here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sportello.config import Settings
from sportello.notifications import outbox
from sportello.notifications.worker import deliver_due
from sportello.runtime import Runtime
from sportello.timeutil import utc_now
from tests.fixtures.smtp_server import SmtpServer
from tests.fixtures.tls import ServerCert, issue

LOGIN = ("sportello", "s3cret-smtp")
pytestmark = [
    pytest.mark.parametrize("security", ["starttls", "tls"]),
    # aiosmtpd only knows STARTTLS as TLS; over implicit TLS its warning does not apply.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]


@pytest.fixture
def cert(tmp_path: Path) -> ServerCert:
    return issue(tmp_path / "pki", "smtp")


@pytest.fixture
def tls_smtp(security: Any, cert: ServerCert) -> Iterator[SmtpServer]:
    server = SmtpServer(security, cert.server_context(), login=LOGIN).start()
    yield server
    server.stop()


def _settings(settings: Settings, server: SmtpServer, ca_file: Path | None) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": server.port,
            "smtp_security": server.security,
            "smtp_username": LOGIN[0],
            "smtp_password": LOGIN[1],
            "smtp_from": "Sportello <help@shop.test>",
            "smtp_ca_file": str(ca_file) if ca_file else None,
            "smtp_timeout": 5.0,
            "outbox_worker_enabled": False,
            "ticker_enabled": False,
        }
    )


@pytest.fixture
async def runtimes() -> AsyncIterator[list[Runtime]]:
    started: list[Runtime] = []
    yield started
    for rt in started:
        await rt.stop()


async def _runtime(settings: Settings, started: list[Runtime]) -> Runtime:
    rt = Runtime(settings)
    await rt.start()
    started.append(rt)
    return rt


async def _enqueue(rt: Runtime, key: str) -> None:
    async with rt.db.scope() as session:
        await outbox.enqueue(
            session,
            kind="message",
            channel="email",
            recipient="anna@example.com",
            payload={"subject": "Il tuo ordine", "text": "È in viaggio."},
            idempotency_key=key,
        )


async def test_login_over_tls_with_the_certificate_verified(
    settings: Settings, tls_smtp: SmtpServer, cert: ServerCert, runtimes: list[Runtime]
) -> None:
    rt = await _runtime(_settings(settings, tls_smtp, cert.ca_file), runtimes)
    assert rt.settings.smtp_validate_certs  # the default: verification on
    await _enqueue(rt, "tls-ok")
    assert await deliver_due(rt) == {"sent": 1}
    [mail] = tls_smtp.messages
    assert mail.recipients == ["anna@example.com"]
    assert mail.tls_version is not None and mail.tls_version.startswith("TLSv1.")
    assert tls_smtp.logins == [LOGIN[0]]
    assert mail.message["Subject"] == "Il tuo ordine"


async def test_untrusted_certificate_keeps_the_mail_until_the_ca_is_configured(
    settings: Settings,
    tls_smtp: SmtpServer,
    cert: ServerCert,
    tmp_path: Path,
    runtimes: list[Runtime],
) -> None:
    stranger = issue(tmp_path / "other-pki", "other")  # a CA that did not sign the server's cert
    wrong = await _runtime(_settings(settings, tls_smtp, stranger.ca_file), runtimes)
    await _enqueue(wrong, "tls-untrusted")
    assert await deliver_due(wrong) == {"pending": 1}
    async with wrong.db.scope() as session:
        row = await outbox.get_by_key(session, "tls-untrusted")
        assert row is not None
        assert row.state == "pending" and row.attempts == 1
        assert "certificate not accepted" in (row.last_error or "")
        assert "unable to get local issuer certificate" in (row.last_error or "")
        retry_at = row.next_attempt_at
    assert tls_smtp.messages == [] and tls_smtp.logins == []  # no password sent in the clear
    # The system's authorities do not know a private CA either.
    system = await _runtime(_settings(settings, tls_smtp, None), runtimes)
    assert await deliver_due(system, now=retry_at + timedelta(seconds=1)) == {"pending": 1}
    assert tls_smtp.messages == []
    # The admin configures the right CA: the same row goes out, once.
    fixed = await _runtime(_settings(settings, tls_smtp, cert.ca_file), runtimes)
    later = utc_now() + timedelta(hours=2)
    assert await deliver_due(fixed, now=later) == {"sent": 1}
    assert await deliver_due(fixed, now=later + timedelta(hours=2)) == {}
    assert len(tls_smtp.messages) == 1
    async with fixed.db.scope() as session:
        row = await outbox.get_by_key(session, "tls-untrusted")
        assert row is not None and row.state == "sent" and row.attempts == 3


async def test_a_plain_client_cannot_deliver_to_a_tls_only_server(
    settings: Settings, tls_smtp: SmtpServer, runtimes: list[Runtime]
) -> None:
    plain = _settings(settings, tls_smtp, None).model_copy(update={"smtp_security": "none"})
    rt = await _runtime(plain, runtimes)
    await _enqueue(rt, "tls-plain")
    assert await deliver_due(rt) == {"pending": 1}
    assert tls_smtp.messages == [] and tls_smtp.logins == []
