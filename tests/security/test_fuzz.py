"""Schemathesis against the OpenAPI schema, in process (ASGI) on a migrated SQLite database.

Bounded examples per operation keep it fast; the only check is the one that matters here: no
answer is a 5xx. It runs once anonymously and once as a supervisor (bearer token), so the
operator endpoints are exercised past their authentication.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from sportello.app import create_app
from sportello.config import Settings
from sportello.operators import service as operators
from sportello.operators.schemas import OperatorCreate
from sportello.runtime import Runtime
from tests.fixtures.backends import SqliteTemplate

MAX_EXAMPLES = 6
# Operations that would end the fuzzing session itself (the answer is still checked in the matrix).
SESSION_ENDING = ("/api/v1/auth/logout", "/api/v1/auth/password", "/api/v1/operators/{operator_id}/deactivate", "/api/v1/operators/{operator_id}")


@pytest.fixture(scope="module")
def fuzz_settings(sqlite_template: SqliteTemplate, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root: Path = tmp_path_factory.mktemp("fuzz")
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=root / "var",
        database_url=sqlite_template.clone(root / "db"),
        secret_key=f"fuzz-{uuid.uuid4().hex}",
        assistant_semantic=False,
        ticker_enabled=False,
        outbox_worker_enabled=False,
        limit_conversations_per_address_hour=0,
        limit_messages_per_conversation_minute=0,
        limit_ws_frames_per_second=0,
    )


@pytest.fixture(scope="module")
def supervisor_token(fuzz_settings: Settings) -> str:
    async def make() -> str:
        rt = Runtime(fuzz_settings)
        try:
            async with rt.db.scope() as session:
                op = await operators.create_operator(
                    session, OperatorCreate(email="fuzz@example.com", name="Fuzz", password="correct horse battery", role="supervisor")
                )
                token, _ = await operators.start_session(session, op, fuzz_settings, address=None, user_agent=None)
                return token
        finally:
            await rt.db.dispose()

    return asyncio.run(make())


@pytest.fixture(scope="module")
def api_schema(fuzz_settings: Settings) -> Any:
    # Schemathesis starts the app's lifespan once and keeps it for the process.
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzz_settings))


fuzz = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


def fuzz_operations(schema: Any, headers: dict[str, str], skip: tuple[str, ...] = ()) -> list[str]:
    """Run every operation with generated cases; the failures, one line each."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in skip:
            continue

        @fuzz
        @hypothesis.given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.label}: {str(exc).strip().splitlines()[0:12]}")
    return failures


def test_anonymous_requests_never_fail_the_server(api_schema: Any) -> None:
    failures = fuzz_operations(api_schema, {})
    assert not failures, "\n".join(failures)


def test_supervisor_requests_never_fail_the_server(api_schema: Any, supervisor_token: str) -> None:
    failures = fuzz_operations(api_schema, {"Authorization": f"Bearer {supervisor_token}"}, SESSION_ENDING)
    assert not failures, "\n".join(failures)
