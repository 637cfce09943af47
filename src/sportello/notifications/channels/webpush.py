"""Web push to operators' browsers with pywebpush and this installation's VAPID key."""

from __future__ import annotations

import json
from datetime import datetime

import aiohttp
from py_vapid import Vapid, Vapid01
from pywebpush import WebPushException, webpush_async

from sportello.config import Settings
from sportello.notifications.channels import (
    Consequence,
    Delivery,
    Job,
    PermanentError,
    TransientError,
)
from sportello.notifications.render import Rendered
from sportello.timeutil import utc_now

DAY = 24 * 3600
DASHBOARD = "/dashboard"


def send_payload(job: Job, rendered: Rendered) -> str:
    """What the dashboard's service worker shows; the same `tag` replaces, not stacks."""
    return json.dumps(
        {
            "title": "Sportello",
            "body": rendered.short,
            "kind": job.kind,
            "url": job.payload.get("url") or DASHBOARD,
            "tag": job.payload.get("tag") or job.idempotency_key,
        },
        ensure_ascii=False,
    )


def time_to_live(job: Job) -> int:
    """Seconds the push service may hold the message: a day, or until the event lapses."""
    value = job.payload.get("expires_at")
    if not isinstance(value, str):
        return DAY
    try:
        left = (datetime.fromisoformat(value) - utc_now()).total_seconds()
    except ValueError:
        return DAY
    return max(0, min(DAY, int(left)))


async def send(
    settings: Settings,
    job: Job,
    rendered: Rendered,
    *,
    vapid: Vapid01,
    subscription: dict[str, object],
) -> Delivery:
    try:
        response = await webpush_async(
            subscription_info=subscription,
            data=send_payload(job, rendered),
            vapid_private_key=vapid,
            vapid_claims={"sub": settings.vapid_subject},
            ttl=time_to_live(job),
            timeout=10,
            headers={"Topic": job.kind.replace(".", "-")[:32]},
        )
    except WebPushException as exc:
        status = exc.response.status if exc.response is not None else None
        detail = f"push service answered {status}"
        if status in (404, 410):
            raise PermanentError(
                detail, code=status, consequence=Consequence(drop_subscription=True)
            ) from None
        if status is None or status == 429 or status >= 500:
            raise TransientError(detail, code=status) from None
        raise PermanentError(detail, code=status) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise TransientError(f"push service unreachable: {type(exc).__name__}") from None
    location = getattr(response, "headers", {}).get("Location")
    return Delivery(provider_message_id=(location or "")[-64:] or None, status="sent")


__all__ = ["Vapid", "send"]
