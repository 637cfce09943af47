"""Notifications: the outbox, its worker and the channels (email, SMS, WhatsApp, push, Slack).

Other domains call `outbox.enqueue`, `service.notify_customer` or `service.notify_operators`
inside their own unit of work; `install` plugs the ticket notifier in and prepares this
process (VAPID key); `worker.run` delivers.
"""

from __future__ import annotations

from sportello.runtime import Runtime


def install(rt: Runtime) -> None:
    """Make this process write ticket notifications to the outbox and have a VAPID key."""
    from sportello.notifications.service import ticket_notifier
    from sportello.notifications.worker import _vapid
    from sportello.tickets.notify import install_notifier

    install_notifier(ticket_notifier)
    _vapid(rt)
