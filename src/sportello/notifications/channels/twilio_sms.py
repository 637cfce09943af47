"""SMS and WhatsApp through the official twilio SDK, with Twilio's errors handled by meaning.

21211 marks the number invalid; 21610 (the recipient sent STOP) suppresses it until START;
63016 (WhatsApp outside the 24-hour window) falls back to an approved template or to email;
20429, 429 and 5xx are retried. `SPORTELLO_TWILIO_API_URL` sends the SDK's requests to another
base URL (a local emulator in tests) through the SDK's pluggable HTTP client.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from sportello.config import Settings
from sportello.notifications.channels import (
    Consequence,
    Delivery,
    Job,
    PermanentError,
    TransientError,
)
from sportello.notifications.models import RecipientState
from sportello.notifications.outbox import key_digest
from sportello.notifications.render import Rendered

TWILIO_API = "https://api.twilio.com"
INVALID_NUMBER = 21211
OPTED_OUT = 21610
OUTSIDE_WINDOW = 63016
TOO_MANY_REQUESTS = 20429
STATUS_PATH = "/api/v1/channels/twilio/status"


def configured(settings: Settings, channel: str) -> bool:
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        return False
    return bool(
        settings.twilio_whatsapp_from if channel == "whatsapp" else settings.twilio_sms_from
    )


class RebasedHttpClient(AsyncTwilioHttpClient):
    """The SDK's async HTTP client, sending to `base_url` instead of api.twilio.com."""

    def __init__(self, base_url: str | None, timeout: float = 15.0) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's signature
        allow_redirects: bool = False,
    ) -> Response:
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        response: Response = await super().request(
            method, url, params, data, headers, auth, timeout or self.timeout, allow_redirects
        )
        return response


def make_client(settings: Settings) -> Client:
    return Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        http_client=RebasedHttpClient(settings.twilio_api_url),
    )


def status_callback_url(settings: Settings, job: Job) -> str:
    """Where Twilio reports on this message; it names the row and carries its idempotency key.

    Twilio's Messages API takes no idempotency key, so this is where the key travels: a report
    that comes back for a message the worker never recorded (it died after Twilio accepted it)
    still finds its row (`inbound.status_callback`), and a duplicate shows the same key.
    """
    assert settings.public_url
    query = urlencode({"outbox": job.id, "key": key_digest(job.idempotency_key)})
    return f"{settings.public_url.rstrip('/')}{STATUS_PATH}?{query}"


def _address(channel: str, number: str) -> str:
    return f"whatsapp:{number}" if channel == "whatsapp" else number


def template_sid(settings: Settings, kind: str) -> str | None:
    return settings.twilio_whatsapp_content_sids.get(kind)


def template_variables(job: Job, rendered: Rendered) -> str:
    """Content variables for an approved template: {1: ticket number, 2: link, 3: short text}."""
    payload = job.payload
    link = payload.get("reopen_url") or payload.get("rating_url") or payload.get("url") or ""
    return json.dumps(
        {"1": str(payload.get("number", "")), "2": str(link), "3": rendered.short[:300]},
        ensure_ascii=False,
    )


async def send(
    settings: Settings, job: Job, rendered: Rendered, *, use_template: bool = False
) -> Delivery:
    """Send an SMS or WhatsApp message; a WhatsApp template when `use_template`."""
    channel = job.channel
    sender = settings.twilio_whatsapp_from if channel == "whatsapp" else settings.twilio_sms_from
    assert sender
    params: dict[str, Any] = {
        "to": _address(channel, job.recipient),
        "from_": _address(channel, sender),
    }
    if settings.public_url:
        params["status_callback"] = status_callback_url(settings, job)
    if use_template:
        sid = template_sid(settings, job.kind)
        if not sid:
            raise PermanentError(
                f"no approved WhatsApp template for '{job.kind}'",
                code=OUTSIDE_WINDOW,
                consequence=Consequence(fallback=True),
            )
        params["content_sid"] = sid
        params["content_variables"] = template_variables(job, rendered)
    else:
        params["body"] = rendered.short[:1600]
    client = make_client(settings)
    try:
        message = await client.messages.create_async(**params)
    except TwilioRestException as exc:
        raise classify(exc, channel=channel, templated=use_template) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise TransientError(f"Twilio unreachable: {type(exc).__name__}") from None
    except TwilioException as exc:
        raise TransientError(f"Twilio: {exc}") from None
    return Delivery(provider_message_id=message.sid, status=str(message.status or "queued"))


def classify(exc: TwilioRestException, *, channel: str, templated: bool) -> Exception:
    """Twilio's error, by meaning: what to do with the row and what we learnt of the number."""
    code = exc.code
    detail = f"Twilio {exc.status} error {code}: {exc.msg}"
    if code == INVALID_NUMBER:
        return PermanentError(detail, code=code, consequence=Consequence(RecipientState.INVALID))
    if code == OPTED_OUT:
        return PermanentError(detail, code=code, consequence=Consequence(RecipientState.OPTED_OUT))
    if code == OUTSIDE_WINDOW and channel == "whatsapp":
        return PermanentError(
            detail,
            code=code,
            consequence=Consequence(fallback=True, extra={"templated": templated}),
        )
    if code == TOO_MANY_REQUESTS or exc.status == 429 or exc.status >= 500:
        return TransientError(detail, code=code)
    return PermanentError(detail, code=code)
