"""The seam through which ticket events reach customers and operators on other channels.

The tickets and SLA services call `notify(session, kind, ticket, ...)` inside the unit of work
that caused the event. The notifications issue plugs in here: it installs a `Notifier` that
writes outbox rows in that same session (so a rolled-back change sends nothing). Until one is
installed the default does nothing; the dashboard still hears every event through the bus.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from sportello.tickets.models import Ticket

NotificationKind = Literal[
    "ticket.opened",  # customer: number, expected answer time (and later the reopen link)
    "ticket.replied",  # customer: an operator's reply, on the ticket's contact method
    "ticket.waiting_user",  # customer: we are waiting for you
    "ticket.resolved",  # customer: resolved, with a rating link
    "ticket.customer_replied",  # operators: the customer wrote
    "ticket.assigned",  # operators: a ticket is now yours
    "sla.warning",  # operators: 80% of a target used
    "sla.breached",  # operators: a target missed
    "ticket.escalated",  # operators: the ticket moved up a tier
]


class Notifier(Protocol):
    async def __call__(
        self,
        session: AsyncSession,
        kind: NotificationKind,
        ticket: Ticket,
        *,
        operator_ids: Sequence[uuid.UUID],
        supervisors: bool,
        customer: bool,
        data: Mapping[str, Any],
    ) -> None:
        """Record the notification in `session`; never send anything before it commits."""


async def _no_notifier(
    session: AsyncSession,
    kind: NotificationKind,
    ticket: Ticket,
    *,
    operator_ids: Sequence[uuid.UUID],
    supervisors: bool,
    customer: bool,
    data: Mapping[str, Any],
) -> None:
    """Nothing is delivered outside the dashboard until the notifications issue installs one."""


_notifier: Notifier = _no_notifier


def install_notifier(notifier: Notifier | None) -> None:
    """Make `notifier` receive every ticket notification of this process (None: the no-op)."""
    global _notifier
    _notifier = notifier or _no_notifier


async def notify(
    session: AsyncSession,
    kind: NotificationKind,
    ticket: Ticket,
    *,
    operator_ids: Sequence[uuid.UUID | None] = (),
    supervisors: bool = False,
    customer: bool = False,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Hand a notification about `ticket` to the installed notifier, in this unit of work."""
    await _notifier(
        session,
        kind,
        ticket,
        operator_ids=[op for op in operator_ids if op is not None],
        supervisors=supervisors,
        customer=customer,
        data=data or {},
    )
