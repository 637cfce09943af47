"""Email over SMTP with aiosmtplib: plain, STARTTLS or implicit TLS, optional login.

With TLS the server's certificate is verified against the system's authorities, or against
`SPORTELLO_SMTP_CA_FILE` (a PEM bundle) for a server with a private or self-signed one.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib

from sportello.config import Settings
from sportello.notifications.channels import Delivery, Job, PermanentError, TransientError
from sportello.notifications.outbox import check_header_safe, key_digest
from sportello.notifications.render import Rendered, one_line


def configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def message_id(idempotency_key: str, sender: str) -> str:
    """A Message-ID derived from the idempotency key: every retry of a notification has the same."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "sportello.invalid"
    return f"<{key_digest(idempotency_key)}@{domain}>"


def build_message(settings: Settings, job: Job, rendered: Rendered) -> EmailMessage:
    """The MIME message; refuses any header value that could start a new header line."""
    msg = EmailMessage()
    msg["From"] = check_header_safe(settings.smtp_from, "the sender")
    msg["To"] = check_header_safe(job.recipient, "the recipient")
    msg["Subject"] = one_line(rendered.subject)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(job.idempotency_key, settings.smtp_from)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Sportello-Notification"] = check_header_safe(job.kind, "the kind")
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    msg["Content-Language"] = job.language  # after the bodies: set_content drops Content-*
    return msg


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind `exc`, if that is what it is."""
    seen: BaseException | None = exc
    for _ in range(5):  # aiosmtplib wraps the ssl error once or twice
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


async def send(settings: Settings, job: Job, rendered: Rendered) -> Delivery:
    msg = build_message(settings, job, rendered)
    security = settings.smtp_security
    try:
        await aiosmtplib.send(
            msg,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            use_tls=security == "tls",
            start_tls=security == "starttls",
            validate_certs=settings.smtp_validate_certs,
            cert_bundle=settings.smtp_ca_file or None,
            timeout=settings.smtp_timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [err.code for err in exc.recipients]
        if codes and all(500 <= c < 600 for c in codes):
            raise PermanentError(f"recipient refused: {exc}", code=codes[0]) from None
        raise TransientError(
            f"recipient deferred: {exc}", code=codes[0] if codes else None
        ) from None
    except aiosmtplib.SMTPAuthenticationError as exc:
        # A wrong password is fixed by an admin, not by the recipient: keep retrying.
        raise TransientError(
            f"SMTP login failed: {exc.code} {exc.message}", code=exc.code
        ) from None
    except aiosmtplib.SMTPResponseException as exc:
        if 500 <= exc.code < 600:
            raise PermanentError(f"SMTP refused: {exc.code} {exc.message}", code=exc.code) from None
        raise TransientError(f"SMTP deferred: {exc.code} {exc.message}", code=exc.code) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        untrusted = _certificate_error(exc)
        if untrusted is not None:
            # Fixed by an admin (the CA file or the host name), so the mail waits and retries.
            raise TransientError(
                f"SMTP server certificate not accepted: {untrusted.verify_message}"
                " (check SPORTELLO_SMTP_HOST and SPORTELLO_SMTP_CA_FILE)"
            ) from None
        raise TransientError(f"SMTP unreachable: {type(exc).__name__}: {exc}") from None
    return Delivery(provider_message_id=msg["Message-ID"].strip("<>")[:64], status="sent")
