"""Team alerts through a Slack incoming webhook."""

from __future__ import annotations

import httpx

from sportello.config import Settings
from sportello.notifications.channels import Delivery, Job, PermanentError, TransientError
from sportello.notifications.render import Rendered


def configured(settings: Settings) -> bool:
    return bool(settings.slack_webhook_url)


async def send(settings: Settings, job: Job, rendered: Rendered) -> Delivery:
    assert settings.slack_webhook_url
    text = rendered.short
    url = job.payload.get("url")
    if isinstance(url, str) and url:
        text = f"{text} <{url}|Sportello>"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            resp = await http.post(settings.slack_webhook_url, json={"text": text})
    except httpx.HTTPError as exc:
        raise TransientError(f"Slack unreachable: {type(exc).__name__}") from None
    if resp.status_code == 200:
        return Delivery(status="sent")
    detail = f"Slack answered {resp.status_code}: {resp.text[:200]}"
    if resp.status_code == 429 or resp.status_code >= 500:
        raise TransientError(detail, code=resp.status_code)
    raise PermanentError(detail, code=resp.status_code)
