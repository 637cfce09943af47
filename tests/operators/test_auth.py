"""Operator accounts: command line, login, sessions, rate limits, admin API."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import httpx
from sqlalchemy import update

from sportello.config import Settings
from sportello.operators.models import OperatorSession
from sportello.timeutil import utc_now
from tests.conftest import settings_env
from tests.operators.helpers import PASSWORD, bearer, login, make_operator


def _cli(settings: Settings, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "sportello", *args],
        input=stdin, capture_output=True, text=True, timeout=60,
        env={**os.environ, **settings_env(settings)},
    )


async def test_cli_create_then_login(client: httpx.AsyncClient, settings: Settings) -> None:
    done = _cli(
        settings, "operator", "create", "--email", "Anna@Example.com", "--name", "Anna", "--password-stdin",
        "--role", "supervisor", "--tier", "2", "--languages", "it,en", "--skills", "biglietti", stdin="s3cret-password\n",
    )
    assert done.returncode == 0, done.stderr
    again = _cli(settings, "operator", "create", "--email", "anna@example.com", "--name", "A", "--password-stdin", stdin="s3cret-password\n")
    assert again.returncode == 1 and "already exists" in again.stderr

    r = await client.post("/api/v1/auth/login", json={"email": "anna@example.com", "password": "s3cret-password"})
    assert r.status_code == 200
    body = r.json()
    assert body["token"].startswith("sop_")
    assert body["operator"]["role"] == "supervisor" and body["operator"]["tier"] == 2
    assert body["operator"]["languages"] == ["it", "en"] and body["operator"]["skills"] == ["biglietti"]
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and body["token"].lower() not in cookie
    me = await client.get("/api/v1/auth/me", headers=bearer(body["token"]))
    assert me.status_code == 200 and me.json()["email"] == "anna@example.com"

    bad = await client.post("/api/v1/auth/login", json={"email": "anna@example.com", "password": "nope-nope"})
    assert bad.status_code == 401 and bad.json()["error"] == "unauthorized"
    unknown = await client.post("/api/v1/auth/login", json={"email": "who@example.com", "password": "nope-nope"})
    assert unknown.status_code == 401 and unknown.json()["message"] == bad.json()["message"]


async def test_login_rate_limited_per_account_and_address(client: httpx.AsyncClient) -> None:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    await make_operator(rt, "bea@example.com")
    for _ in range(rt.settings.login_max_failures_account):
        r = await client.post("/api/v1/auth/login", json={"email": "bea@example.com", "password": "wrong-wrong"})
        assert r.status_code == 401
    locked = await client.post("/api/v1/auth/login", json={"email": "bea@example.com", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    # Per address: many accounts tried from one address.
    rt.settings.login_max_failures_address = 8
    for i in range(3):
        await client.post("/api/v1/auth/login", json={"email": f"x{i}@example.com", "password": "wrong-wrong"})
    other = await make_operator(rt, "carla@example.com")
    assert other
    r = await client.post("/api/v1/auth/login", json={"email": "carla@example.com", "password": PASSWORD})
    assert r.status_code == 429


async def test_logout_password_change_and_expiry_end_sessions(client: httpx.AsyncClient) -> None:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    await make_operator(rt, "dario@example.com")
    first = await login(client, "dario@example.com")
    second = await login(client, "dario@example.com")
    assert (await client.post("/api/v1/auth/logout", headers=bearer(first))).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=bearer(first))).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(second))).status_code == 200

    wrong = await client.post("/api/v1/auth/password", headers=bearer(second), json={"current_password": "nope", "new_password": "another-password"})
    assert wrong.status_code == 401
    ok = await client.post("/api/v1/auth/password", headers=bearer(second), json={"current_password": PASSWORD, "new_password": "another-password"})
    assert ok.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=bearer(second))).status_code == 401
    third = await login(client, "dario@example.com", "another-password")

    async with rt.db.scope() as session:
        await session.execute(update(OperatorSession).values(expires_at=utc_now() - timedelta(seconds=1)))
    expired = await client.get("/api/v1/auth/me", headers=bearer(third))
    assert expired.status_code == 401 and "expired" in expired.json()["message"]


async def test_admin_api_and_role_checks(client: httpx.AsyncClient) -> None:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    await make_operator(rt, "admin@example.com", role="admin")
    await make_operator(rt, "sup@example.com", role="supervisor")
    agent_id = await make_operator(rt, "agent@example.com")
    admin = await login(client, "admin@example.com")
    sup = await login(client, "sup@example.com")
    agent = await login(client, "agent@example.com")

    assert (await client.get("/api/v1/operators", headers=bearer(agent))).status_code == 403
    listed = await client.get("/api/v1/operators", headers=bearer(sup))
    assert listed.status_code == 200 and len(listed.json()) == 3
    new = {"email": "eva@example.com", "name": "Eva", "password": "long-enough-pw", "languages": ["en"]}
    assert (await client.post("/api/v1/operators", headers=bearer(sup), json=new)).status_code == 403
    created = await client.post("/api/v1/operators", headers=bearer(admin), json=new)
    assert created.status_code == 201 and created.json()["max_chats"] == 3
    assert (await client.post("/api/v1/operators", headers=bearer(admin), json=new)).status_code == 409

    patched = await client.patch(f"/api/v1/operators/{agent_id}", headers=bearer(admin), json={"tier": 2, "skills": ["parcheggio"]})
    assert patched.status_code == 200 and patched.json()["tier"] == 2
    off = await client.post(f"/api/v1/operators/{agent_id}/deactivate", headers=bearer(admin))
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await client.get("/api/v1/auth/me", headers=bearer(agent))).status_code == 401
    relogin = await client.post("/api/v1/auth/login", json={"email": "agent@example.com", "password": PASSWORD})
    assert relogin.status_code == 401


async def test_cookie_session_needs_csrf_header_for_changes(client: httpx.AsyncClient) -> None:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    await make_operator(rt, "fede@example.com")
    r = await client.post("/api/v1/auth/login", json={"email": "fede@example.com", "password": PASSWORD})
    csrf = r.json()["csrf_token"]
    # httpx keeps the cookie: no Authorization header from here on.
    assert (await client.get("/api/v1/auth/me")).status_code == 200
    refused = await client.put("/api/v1/operator/presence", json={"status": "away"})
    assert refused.status_code == 403
    allowed = await client.put("/api/v1/operator/presence", json={"status": "away"}, headers={"X-CSRF-Token": csrf})
    assert allowed.status_code == 200
    # A visitor token is not an operator session.
    conv = (await client.post("/api/v1/conversations", json={})).json()
    client.cookies.clear()
    assert (await client.get("/api/v1/auth/me", headers=bearer(conv["token"]))).status_code == 401
