"""The stored-state gauges of /metrics: queue, operators online, outbox backlog, ticker lag."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx

from sportello.analytics.gauges import collect_ticker_lag
from sportello.runtime import Runtime
from sportello.timeutil import utc_now
from tests.analytics.history import History
from tests.operators.helpers import go_online, make_operator


def gauge(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, name
    return float(match.group(1))


async def test_gauges_show_the_stored_state(client: httpx.AsyncClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    op = await make_operator(rt, "on@example.com")
    await make_operator(rt, "off@example.com")
    await go_online(rt, op)
    now = utc_now()
    stamp = (now - timedelta(seconds=100)).strftime("%Y-%m-%d %H:%M:%S")
    h = History()
    for state in ("waiting", "offered", "abandoned"):
        cid = h.conversation(stamp)
        h.entry(cid, stamp, state=state, wait=10)
    h.notification("email", "pending", stamp)
    h.notification("sms", "sending", (now - timedelta(seconds=10)).strftime("%Y-%m-%d %H:%M:%S"))
    h.notification("sms", "sent", (now - timedelta(seconds=500)).strftime("%Y-%m-%d %H:%M:%S"))
    h.notification("sms", "dead", (now - timedelta(seconds=900)).strftime("%Y-%m-%d %H:%M:%S"))
    await h.write(rt)
    text = (await client.get("/metrics")).text
    assert gauge(text, "sportello_queue_length") == 2
    assert gauge(text, "sportello_online_operators") == 1
    assert gauge(text, "sportello_outbox_backlog") == 2
    assert 100 <= gauge(text, "sportello_outbox_oldest_age_seconds") < 130


async def test_ticker_lag_is_recorded_and_a_stuck_ticker_shows(client: httpx.AsyncClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    for _ in range(100):  # the ticker runs in the app (interval 1 s): wait for its second pass
        if rt.metrics.ticker_last_pass is not None and rt.metrics.ticker_lag._value.get() > 0:
            break
        await asyncio.sleep(0.05)
    lag = gauge((await client.get("/metrics")).text, "sportello_ticker_lag_seconds")
    assert 0 <= lag < 2
    rt.metrics.ticker_last_pass = asyncio.get_running_loop().time() - rt.settings.ticker_interval - 30
    await collect_ticker_lag(rt)
    assert rt.metrics.ticker_lag._value.get() >= 30
