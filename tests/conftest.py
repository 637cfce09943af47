"""Fixtures: every backend-aware test runs on SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from sportello.app import create_app
from sportello.config import Settings
from tests.fixtures.backends import (
    REDIS_URL,
    REQUIRE_SERVICES,
    Backend,
    PostgresTemplate,
    SqliteTemplate,
    services_problem,
)
from tests.fixtures.servers import ProcessServer, ThreadServer


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def services_ready() -> None:
    problem = services_problem()
    if problem is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"SPORTELLO_REQUIRE_SERVICES=1 but {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def pg_template(services_ready: None) -> Iterator[PostgresTemplate]:
    template = PostgresTemplate()
    yield template
    template.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, migrated database per test (and Redis for the PostgreSQL half)."""
    if request.param == "sqlite":
        template: SqliteTemplate = request.getfixturevalue("sqlite_template")
        yield Backend("sqlite", template.clone(tmp_path / "db"), None)
        return
    pg: PostgresTemplate = request.getfixturevalue("pg_template")
    url = pg.clone()
    try:
        yield Backend("postgres", url, REDIS_URL)
    finally:
        pg.drop(url)


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=backend.database_url,
        redis_url=backend.redis_url,
        redis_prefix=f"sportello-test-{uuid.uuid4().hex[:10]}",
        secret_key=f"test-{uuid.uuid4().hex}",
        assistant_semantic=False,
        # Abuse limits are exercised by their own tests; elsewhere they would only add flakiness.
        limit_conversations_per_address_hour=10_000,
        limit_messages_per_conversation_minute=10_000,
        limit_ws_frames_per_second=10_000,
        limit_notifications_per_recipient_day=10_000,
        limit_sms_per_day=10_000,
        limit_emails_per_day=10_000,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process read the same settings."""
    env = {
        "SPORTELLO_DATA_DIR": str(settings.data_dir),
        "SPORTELLO_DATABASE_URL": settings.resolved_database_url,
        "SPORTELLO_REDIS_PREFIX": settings.redis_prefix,
        "SPORTELLO_SECRET_KEY": settings.secret_key,
        "SPORTELLO_LOG_LEVEL": "warning",
        "SPORTELLO_ASSISTANT_SEMANTIC": "false",
        "SPORTELLO_LIMIT_CONVERSATIONS_PER_ADDRESS_HOUR": str(settings.limit_conversations_per_address_hour),
        "SPORTELLO_LIMIT_MESSAGES_PER_CONVERSATION_MINUTE": str(settings.limit_messages_per_conversation_minute),
        "SPORTELLO_LIMIT_WS_FRAMES_PER_SECOND": str(settings.limit_ws_frames_per_second),
        "SPORTELLO_LIMIT_NOTIFICATIONS_PER_RECIPIENT_DAY": str(settings.limit_notifications_per_recipient_day),
        "SPORTELLO_LIMIT_SMS_PER_DAY": str(settings.limit_sms_per_day),
        "SPORTELLO_LIMIT_EMAILS_PER_DAY": str(settings.limit_emails_per_day),
    }
    if settings.redis_url:
        env["SPORTELLO_REDIS_URL"] = settings.redis_url
    return env


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """In-process client, with the app's lifespan running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


@pytest.fixture
def live(settings: Settings) -> Iterator[ThreadServer]:
    """The app on a real uvicorn server on 127.0.0.1."""
    server = ThreadServer(settings).start()
    yield server
    server.stop()


@pytest.fixture
def process_server_factory(settings: Settings, tmp_path: Path) -> Iterator[type]:
    started: list[ProcessServer] = []

    class Factory:
        @staticmethod
        def start(**extra_env: str) -> ProcessServer:
            env = {**settings_env(settings), **extra_env}
            server = ProcessServer(env, tmp_path / f"server-{len(started)}.log").start()
            started.append(server)
            return server

    yield Factory
    for server in started:
        server.stop()
