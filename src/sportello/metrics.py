"""Prometheus metrics of one process, and the `/metrics` endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from sportello.runtime import Runtime

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The series Sportello exposes; gauges of stored state are refreshed at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Histogram(
            "sportello_http_request_duration_seconds", "HTTP request latency",
            ["method", "route", "status"], registry=r, buckets=LATENCY_BUCKETS,
        )
        self.open_sockets = Gauge("sportello_open_sockets", "Open WebSockets", ["kind"], registry=r)
        self.messages = Counter("sportello_messages_total", "Messages stored", ["sender"], registry=r)
        self.delivery = Histogram(
            "sportello_message_delivery_seconds", "From a message's commit to its send on a socket",
            registry=r, buckets=LATENCY_BUCKETS,
        )
        self.queue_length = Gauge("sportello_queue_length", "Conversations waiting for an operator", registry=r)
        self.online_operators = Gauge("sportello_online_operators", "Operators online", registry=r)
        self.outbox_backlog = Gauge("sportello_outbox_backlog", "Notifications not yet delivered", registry=r)
        self.outbox_oldest = Gauge(
            "sportello_outbox_oldest_age_seconds", "Age of the oldest undelivered notification", registry=r
        )
        self.outbox_held = Gauge(
            "sportello_outbox_held", "Notifications held by a daily limit, waiting for a supervisor", registry=r
        )
        self.notifications_held = Counter(
            "sportello_notifications_held_total", "Notifications held by a daily limit",
            ["channel", "limit"], registry=r,
        )
        self.embeddings_shed = Counter(
            "sportello_assistant_embeddings_shed", "Questions answered without embeddings because the embedder was backed up",
            registry=r,
        )
        self.ticker_lag = Gauge("sportello_ticker_lag_seconds", "How late the ticker's last run was", registry=r)
        self.loop_lag = Histogram(
            "sportello_event_loop_lag_seconds", "How late a 50 ms timer fires on the event loop",
            registry=r, buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0),
        )
        self.collectors: list[Callable[[Runtime], Awaitable[None]]] = []
        # Event-loop time at which this process's ticker started its last pass (None: no ticker).
        self.ticker_last_pass: float | None = None

    async def render(self, rt: Runtime) -> bytes:
        for collect in self.collectors:
            await collect(rt)
        return generate_latest(self.registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST


class RequestMetrics:
    """Times every HTTP request by its route template (never by raw path: ids would explode labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            app = scope.get("app")
            rt = getattr(getattr(app, "state", None), "runtime", None)
            if rt is not None:
                rt.metrics.requests.labels(scope["method"], template, str(status)).observe(
                    time.perf_counter() - started
                )


async def watch_loop_lag(metrics: Metrics, interval: float = 0.05) -> None:
    """Forever: measure how late the event loop runs a timer (a stalled loop delays every socket)."""
    loop = asyncio.get_running_loop()
    while True:
        expected = loop.time() + interval
        await asyncio.sleep(interval)
        metrics.loop_lag.observe(max(0.0, loop.time() - expected))
