"""Ticket tests run without the outbox worker: they check what is recorded, not delivered."""

from __future__ import annotations

import pytest

from sportello.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbox_worker_enabled": False})
