"""Shared pieces of the benchmarks: servers on 127.0.0.1, machine facts, the results file."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "benchmarks.md"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def now_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_section(name: str, body: str) -> None:
    """Replace the `name` section of docs/benchmarks.md (or append it)."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")


class Server:
    """A child process serving on 127.0.0.1 until stopped."""

    def __init__(self, argv: list[str], port: int, env: dict[str, str] | None = None, ready_path: str = "/readyz") -> None:
        self.port = port
        self.argv = argv
        self.env = {**os.environ, **(env or {})}
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Server:
        argv = self.argv
        if profile := os.environ.get("BENCH_PYSPY"):
            # `BENCH_PYSPY=prefix make bench-…`: sample the server with py-spy into collapsed
            # stacks (prefix-PORT.txt); CPU figures then include py-spy's own process.
            py_spy = Path(sys.executable).with_name("py-spy")
            argv = [str(py_spy), "record", "-r", "250", "--format", "raw", "-o", f"{profile}-{self.port}.txt", "--", *argv]
        log = os.environ.get("BENCH_SERVER_LOG")
        self.proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.DEVNULL, stderr=open(log, "ab") if log else subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"{self.argv} exited: {err[-2000:]}")
            try:
                if self.ready_path == "":
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return self
                elif httpx.get(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=1).status_code == 200:
                    return self
            except (OSError, httpx.HTTPError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.argv} not ready")

    @contextlib.contextmanager
    def sampled(self, label: str) -> Iterator[None]:
        """With `BENCH_PYSPY_LOAD=prefix`: py-spy samples the server while the block runs.

        Writes collapsed stacks to `prefix-LABEL.txt` (see bench/profile.py); unlike BENCH_PYSPY
        it leaves out start-up and the benchmark's own set-up requests. `BENCH_PYSPY_ARGS` adds
        py-spy options (e.g. `--gil`: only samples holding the GIL).
        """
        prefix = os.environ.get("BENCH_PYSPY_LOAD")
        if not prefix or self.proc is None:
            yield
            return
        py_spy = Path(sys.executable).with_name("py-spy")
        spy = subprocess.Popen(
            [str(py_spy), "record", "-r", "250", "--format", "raw", "--nonblocking",
             *os.environ.get("BENCH_PYSPY_ARGS", "").split(),
             "-o", f"{prefix}-{label}.txt", "--pid", str(self.proc.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_bytes(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if os.environ.get("BENCH_PYSPY"):
                self.proc.send_signal(signal.SIGINT)
                self.proc.wait(30)
                return
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def sportello_server(port: int, env: dict[str, str]) -> Server:
    return Server([sys.executable, "-m", "sportello", "serve", "--host", "127.0.0.1", "--port", str(port)], port, env)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PASSWORD = "bench-password-1"


def pg_database(name: str | None = None) -> str:
    """A new, empty PostgreSQL database for one benchmark run (its URL); `name` is kept if it exists."""
    import asyncpg

    name = name or f"sportello_bench_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(create())
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    asyncio.run(drop())


def sportello_env(backend: str, data_dir: str, database: str | None = None, **extra: str) -> dict[str, str]:
    """Environment for a benchmark server on `backend` (`sqlite` or `postgres`), migrated."""
    env = {
        "SPORTELLO_DATA_DIR": data_dir,
        "SPORTELLO_SECRET_KEY": uuid.uuid4().hex,
        "SPORTELLO_LOG_LEVEL": "warning",
        "SPORTELLO_ASSISTANT_SEMANTIC": "false",
        "SPORTELLO_OPENING_HOURS": "always",
        # The load generator is one address driving many conversations far faster than a person.
        "SPORTELLO_LIMIT_CONVERSATIONS_PER_ADDRESS_HOUR": "0",
        "SPORTELLO_LIMIT_MESSAGES_PER_CONVERSATION_MINUTE": "0",
        "SPORTELLO_LIMIT_WS_FRAMES_PER_SECOND": "0",
        **extra,
    }
    if backend == "postgres":
        env["SPORTELLO_DATABASE_URL"] = pg_database(database)
        env["SPORTELLO_REDIS_URL"] = "redis://127.0.0.1:6379/0"
        env["SPORTELLO_REDIS_PREFIX"] = f"bench-{uuid.uuid4().hex[:6]}"
    subprocess.run([sys.executable, "-m", "sportello", "migrate"], env={**os.environ, **env}, check=True, capture_output=True)
    return env


def runtime_for(env: dict[str, str]) -> Any:
    """A Runtime in this process on the benchmark server's database (no bus traffic needed)."""
    from sportello.config import Settings
    from sportello.runtime import Runtime

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=Path(env["SPORTELLO_DATA_DIR"]),
        database_url=env.get("SPORTELLO_DATABASE_URL", ""),
    )
    return Runtime(settings)


async def make_operators(env: dict[str, str], base: str, n: int, max_chats: int = 20, role: str = "agent") -> list[str]:
    """Create `n` operators and log each in through the API; their bearer tokens."""
    from sportello.operators.schemas import OperatorCreate
    from sportello.operators.service import create_operator

    rt = runtime_for(env)
    tag = uuid.uuid4().hex[:6]
    emails = [f"op{i}-{tag}@bench.example" for i in range(n)]
    try:
        async with rt.db.scope() as session:
            for email in emails:
                await create_operator(
                    session,
                    OperatorCreate(email=email, name=email.split("@")[0], password=PASSWORD, role=role,  # type: ignore[arg-type]
                                   languages=["it", "en"], max_chats=max_chats),
                )
    finally:
        await rt.db.dispose()
    tokens = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for email in emails:
            r = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            r.raise_for_status()
            tokens.append(r.json()["token"])
            http.cookies.clear()
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))
