"""Report query times on a year of history (200k conversations), SQLite and PostgreSQL.

`make bench-reports` (or `python -m bench.reports [--conversations N]`): generates the history with
`sportello demo --history`'s generator in a fresh database per backend, then times every report
over the whole year (the median of several runs, after one warm-up) and writes the `reports`
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.common import machine, median, now_stamp, write_section
from sportello.analytics import facts, service
from sportello.analytics.generator import generate_history
from sportello.db import Database
from sportello.migrate import upgrade

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_DB = "sportello_bench_reports"
END = date(2026, 11, 25)
RUNS = 7
TARGET_MS = 500


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="test", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def measure(url: str, conversations: int) -> tuple[float, dict[str, float], dict[str, float]]:
    """(generation seconds, {report: median ms over the year}, {report: median ms, one language})."""
    db = Database(url)
    try:
        started = time.perf_counter()
        await generate_history(db, days=365, conversations=conversations, end=END)
        generated = time.perf_counter() - started
        await facts.refresh(db)
        year = service.Filters(END - timedelta(days=364), END)
        filtered = service.Filters(END - timedelta(days=364), END, language="en", channel="web")
        results: list[dict[str, float]] = []
        for filters in (year, filtered):
            times: dict[str, float] = {}
            for name, fn in service.MEASURES.items():
                runs = []
                for _ in range(RUNS + 1):
                    async with db.scope() as session:
                        t = time.perf_counter()
                        await fn(session, filters)
                        runs.append((time.perf_counter() - t) * 1000)
                times[name] = median(runs[1:])
            results.append(times)
        # The refresh a report pays when nothing changed since the last one.
        runs = []
        for _ in range(RUNS):
            t = time.perf_counter()
            await facts.refresh(db)
            runs.append((time.perf_counter() - t) * 1000)
        results[0]["(rollup refresh, idle)"] = median(runs)
        return generated, results[0], results[1]
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    rows: dict[str, tuple[float, dict[str, float], dict[str, float]]] = {}
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
                upgrade(url)
                rows[backend] = asyncio.run(measure(url, args.conversations))
        else:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
            asyncio.run(_pg_admin(f'CREATE DATABASE "{PG_DB}"'))
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"
            try:
                upgrade(url)
                rows[backend] = asyncio.run(measure(url, args.conversations))
            finally:
                asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        print(backend, rows[backend], flush=True)
    names = list(next(iter(rows.values()))[1])
    backends = list(rows)
    lines = [
        "## Reports",
        "",
        f"{now_stamp()} · {machine()} · `make bench-reports` (`python -m bench.reports --conversations {args.conversations}`)",
        "",
        f"A year ({END - timedelta(days=364)} – {END}) of generated history, {args.conversations:,} conversations "
        "(Lucine di Natale season: December evenings and weekends peak). Each figure is the median of "
        f"{RUNS} runs of the report's queries and Python aggregation, after a warm-up; range = the whole year. "
        f"Target: every report under {TARGET_MS} ms.",
        "",
        "| report | " + " | ".join(f"{b} year (ms) | {b} en+web (ms)" for b in backends) + " |",
        "|---|" + "---:|---:|" * len(backends),
    ]
    for name in names:
        cells = []
        for b in backends:
            cells.append(f"{rows[b][1][name]:.0f}")
            cells.append(f"{rows[b][2][name]:.0f}" if name in rows[b][2] else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Generation (`generate_history`, bulk inserts + rollup build): " + ", ".join(f"{b} {rows[b][0]:.0f} s" for b in backends) + ".")
    worst = max(v for b in backends for part in (rows[b][1], rows[b][2]) for v in part.values())
    lines.append(f"Slowest: {worst:.0f} ms ({'within' if worst < TARGET_MS else 'over'} the {TARGET_MS} ms target).")
    write_section("reports", "\n".join(lines))


if __name__ == "__main__":
    main()
