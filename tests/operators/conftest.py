"""Queue tests run with the desk always open unless a test says otherwise."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sportello.config import Settings
from tests.fixtures.backends import Backend


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=backend.database_url,
        redis_url=backend.redis_url,
        redis_prefix=f"sportello-test-{uuid.uuid4().hex[:10]}",
        secret_key=f"test-{uuid.uuid4().hex}",
        opening_hours="always",
        ticker_interval=0.2,
    )
