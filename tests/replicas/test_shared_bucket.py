"""The rate bucket replicas share on PostgreSQL: never more than LINE's rate in total,
emergencies first across replicas.

Several connections (as several replicas would) take from one bucket at once; whatever
the interleaving, what they were granted together stays within capacity + rate x time.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy.engine import Engine

from broadcaster.delivery.shared_bucket import CREATE, SharedPacer, take
from broadcaster.settings import RateLimitSettings
from tests.delivery.scenario import line_settings

pytestmark = pytest.mark.postgres

RATE = 200.0
CAPACITY = 10.0


def test_replicas_taking_at_once_never_get_more_than_the_rate(postgres_engine: Engine) -> None:
    with postgres_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(CREATE, {"key": "ch:multicast"})
    granted = [0] * 4
    start = threading.Barrier(len(granted))
    seconds = 1.0

    def replica(n: int) -> None:
        engine_connection = postgres_engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        )
        with engine_connection as connection:
            start.wait()
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                grant = take(connection, "ch:multicast", 5, rate=RATE, capacity=CAPACITY,
                             emergency=False)
                granted[n] += grant.granted

    began = time.monotonic()
    threads = [threading.Thread(target=replica, args=(n,)) for n in range(len(granted))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    assert sum(granted) <= CAPACITY + RATE * elapsed
    assert sum(granted) >= 0.8 * RATE * seconds  # and the rate is used, not wasted
    assert all(granted), "every replica got its share"


def test_an_emergency_take_keeps_every_replicas_normal_takes_out(postgres_engine: Engine) -> None:
    with postgres_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(CREATE, {"key": "ch:multicast"})
        time.sleep(0.06)  # let the bucket fill (it starts empty)
        emergency = take(c, "ch:multicast", 5, rate=RATE, capacity=CAPACITY, emergency=True)
        normal = take(c, "ch:multicast", 1, rate=RATE, capacity=CAPACITY, emergency=False)
        again = take(c, "ch:multicast", 1, rate=RATE, capacity=CAPACITY, emergency=True)
    assert emergency.granted == 5
    assert normal.granted == 0 and normal.held > 0
    assert again.granted == 1


def test_two_replicas_pacers_share_one_rate_and_an_order_goes_first(
    postgres_engine: Engine, tmp_path: object
) -> None:
    settings = line_settings(tmp_path, "sqlite://")  # type: ignore[arg-type]
    rates = RateLimitSettings(multicast=RATE)

    async def main() -> tuple[int, float, list[float]]:
        pacers = [SharedPacer(postgres_engine, settings, rates=rates) for _ in range(2)]
        for pacer in pacers:
            await pacer.open()
        sent = 0
        stop = time.monotonic() + 1.0
        order_waits: list[float] = []

        async def normal(pacer: SharedPacer) -> None:
            nonlocal sent
            while time.monotonic() < stop:
                await pacer.acquire("multicast", emergency=False)
                sent += 1

        async def order(pacer: SharedPacer) -> None:
            await asyncio.sleep(0.4)
            for _ in range(10):
                asked = time.monotonic()
                await pacer.acquire("multicast", emergency=True)
                order_waits.append(time.monotonic() - asked)

        began = time.monotonic()
        await asyncio.gather(*(normal(p) for p in pacers for _ in range(8)), order(pacers[1]))
        elapsed = time.monotonic() - began
        for pacer in pacers:
            await pacer.close()
        return sent + len(order_waits), elapsed, order_waits

    total, elapsed, waits = asyncio.run(main())
    assert total <= CAPACITY + RATE * (elapsed + 0.05)
    assert total >= 0.3 * RATE  # most of it on a quiet machine; loaded, the round trips slow
    # 16 normal senders in two replicas are waiting; each of the order's requests still
    # gets one of the next tokens (1/200 s apart), not a place at the back of the queue.
    assert max(waits) < 0.05, waits
