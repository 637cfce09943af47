"""Ticket tests run without the outbox worker and the background ticker.

They check what is recorded, with a frozen clock; SLA ticks are run explicitly by the tests
that need them, so a background pass on the real clock cannot escalate a frozen-time ticket.
"""

from __future__ import annotations

import pytest

from sportello.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbox_worker_enabled": False, "ticker_enabled": False})
