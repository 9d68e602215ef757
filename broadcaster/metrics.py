"""What `/metrics` reports, in Prometheus' format (prometheus-client).

Two kinds of figures:

- **Read from the database at scrape time** (`DatabaseCollector`): the queue per lane,
  batches by outcome, scheduler lag, webhook events, quota used this month. The database
  is the truth every replica shares, so these are right whichever replica is scraped and
  need no code in the delivery path.
- **Counted in the process** (the module-level metrics below): LINE's latency and answers
  (2xx, 409, 429, other 4xx, 5xx, no answer) per endpoint. The sender calls `timed_call`
  once per request; these are per process, as Prometheus expects of counters.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcasts import Broadcast, BroadcastStatus, Priority
from broadcaster.clock import as_utc, local, utcnow
from broadcaster.db import table_of
from broadcaster.webhook_events import WebhookEvent

T = TypeVar("T")

LINE_SECONDS = Histogram(
    "broadcaster_line_request_seconds",
    "Time from sending a request to LINE to its answer (or failure), by endpoint.",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=None,
)
LINE_ANSWERS = Counter(
    "broadcaster_line_responses",
    "LINE's answers by endpoint and class: 2xx, 409 (duplicate), 429, 4xx, 5xx, none.",
    ["endpoint", "answer"],
    registry=None,
)
PROCESS_METRICS = (LINE_SECONDS, LINE_ANSWERS)


def answer_class(status: int | None) -> str:
    """The label of an HTTP status: the classes an operator alerts on, 409 and 429 apart."""
    if not status:
        return "none"
    if status in (409, 429):
        return str(status)
    return f"{status // 100}xx"


def timed_call(endpoint: str, call: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """`call` (an SDK `…_with_http_info` method), observed: its duration and LINE's answer.

    The SDK returns a response with `status_code` for a 2xx and raises an exception with
    `status` for anything else (none at all for a timeout or a dropped connection).
    """

    async def observed(*args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        status: int | None = None
        try:
            response = await call(*args, **kwargs)
            status = int(getattr(response, "status_code", 0) or 0) or 200
            return response
        except Exception as exc:
            status = getattr(exc, "status", None)
            raise
        finally:
            LINE_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
            LINE_ANSWERS.labels(endpoint, answer_class(status)).inc()

    return observed


class DatabaseCollector(Collector):
    """Gauges computed by a few indexed queries each time Prometheus scrapes."""

    def __init__(self, engine: Engine, tz: Any) -> None:
        self.engine = engine
        self.tz = tz

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = utcnow()
        with self.engine.connect() as connection:
            yield from self._queue(connection)
            yield self._batches(connection)
            yield self._lag(connection, now)
            yield self._webhooks(connection)
            yield self._quota(connection, now)
            yield self._last_durations(connection)

    def _queue(self, connection: sa.Connection) -> Iterator[GaugeMetricFamily]:
        batch = table_of(Batch)
        lane = sa.case((batch.c.priority >= Priority.emergency, "emergency"), else_="normal")
        rows = connection.execute(
            sa.select(
                lane, sa.func.count(), sa.func.coalesce(sa.func.sum(batch.c.recipient_count), 0)
            )
            .where(batch.c.status == BatchStatus.pending)
            .group_by(lane)
        ).all()
        found = {name: (int(count), int(people)) for name, count, people in rows}
        batches = GaugeMetricFamily(
            "broadcaster_queue_batches", "Batches waiting to be sent, by lane.", labels=["lane"]
        )
        people = GaugeMetricFamily(
            "broadcaster_queue_recipients", "Recipients waiting in those batches, by lane.",
            labels=["lane"],
        )
        for name in ("emergency", "normal"):
            count, recipients = found.get(name, (0, 0))
            batches.add_metric([name], count)
            people.add_metric([name], recipients)
        yield batches
        yield people

    def _batches(self, connection: sa.Connection) -> GaugeMetricFamily:
        batch = table_of(Batch)
        rows: dict[str, int] = {
            status: int(count)
            for status, count in connection.execute(
                sa.select(batch.c.status, sa.func.count()).group_by(batch.c.status)
            ).all()
        }
        family = GaugeMetricFamily(
            "broadcaster_batches", "Batches in the outbox by outcome.", labels=["status"]
        )
        for status in BatchStatus:
            family.add_metric([status.value], int(rows.get(status.value, 0)))
        return family

    def _lag(self, connection: sa.Connection, now: datetime) -> GaugeMetricFamily:
        """How late the oldest due broadcast is that the scheduler has not taken yet."""
        broadcast = table_of(Broadcast)
        oldest = connection.execute(
            sa.select(sa.func.min(broadcast.c.send_at)).where(
                broadcast.c.status == BroadcastStatus.scheduled, broadcast.c.send_at <= now
            )
        ).scalar()
        lag = 0.0
        if oldest is not None:
            lag = max(0.0, (now - as_utc(oldest)).total_seconds())
        return GaugeMetricFamily(
            "broadcaster_scheduler_lag_seconds",
            "Seconds the oldest due, not yet dispatched broadcast is late (0: none waiting).",
            value=lag,
        )

    def _webhooks(self, connection: sa.Connection) -> GaugeMetricFamily:
        events = table_of(WebhookEvent)
        rows = connection.execute(
            sa.select(events.c.event_type, sa.func.count()).group_by(events.c.event_type)
        ).all()
        family = GaugeMetricFamily(
            "broadcaster_webhook_events",
            "Webhook events received and kept (see [retention]), by type.",
            labels=["type"],
        )
        for kind, count in rows:
            family.add_metric([kind], int(count))
        return family

    def _quota(self, connection: sa.Connection, now: datetime) -> GaugeMetricFamily:
        """Messages LINE accepted from us this month (LINE's month is Japan's)."""
        batch = table_of(Batch)
        start = local(now, self.tz).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        used = connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(batch.c.recipient_count), 0)).where(
                batch.c.status == BatchStatus.accepted, batch.c.accepted_at >= start
            )
        ).scalar()
        return GaugeMetricFamily(
            "broadcaster_quota_used",
            "Recipients of batches LINE accepted this calendar month, as LINE counts quota.",
            value=int(used or 0),
        )


    def _last_durations(self, connection: sa.Connection) -> GaugeMetricFamily:
        """How long the latest finished broadcast of each lane took, per phase.

        `dispatch`: writing its outbox (started_at → dispatched_at); `send`: from then until
        its last batch settled (→ finished_at). Gauges of the latest one, not histograms: a
        histogram rebuilt from the database at each scrape would not be monotonic.
        """
        broadcast = table_of(Broadcast)
        family = GaugeMetricFamily(
            "broadcaster_last_broadcast_seconds",
            "Dispatch and send time of the latest finished broadcast, by lane.",
            labels=["lane", "phase"],
        )
        for lane, condition in (
            ("emergency", broadcast.c.priority >= Priority.emergency),
            ("normal", broadcast.c.priority < Priority.emergency),
        ):
            row = connection.execute(
                sa.select(broadcast.c.started_at, broadcast.c.dispatched_at,
                          broadcast.c.finished_at)
                .where(condition, broadcast.c.finished_at.is_not(None),
                       broadcast.c.started_at.is_not(None),
                       broadcast.c.dispatched_at.is_not(None))
                .order_by(broadcast.c.finished_at.desc())
                .limit(1)
            ).first()
            if row is None:
                continue
            started, dispatched, finished = (as_utc(value) for value in row)
            family.add_metric([lane, "dispatch"], (dispatched - started).total_seconds())
            family.add_metric([lane, "send"], max(0.0, (finished - dispatched).total_seconds()))
        return family


def registry_for(engine: Engine, tz: Any) -> CollectorRegistry:
    """One registry per app: its database's gauges and this process's LINE figures."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine, tz))
    for metric in PROCESS_METRICS:
        registry.register(metric)
    return registry
