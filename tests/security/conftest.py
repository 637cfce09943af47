"""Security tests run without background work: they check what is stored and answered."""

from __future__ import annotations

import pytest

from sportello.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbox_worker_enabled": False, "ticker_enabled": False})
