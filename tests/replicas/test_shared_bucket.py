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
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from broadcaster.delivery.shared_bucket import CREATE, GRANT_SECONDS, SharedPacer, take
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
        # A full bucket (it starts empty), rather than waiting for it to fill.
        c.execute(sa.text("UPDATE rate_bucket SET tokens = :n"), {"n": CAPACITY})
        emergency = take(c, "ch:multicast", 5, rate=RATE, capacity=CAPACITY, emergency=True)
        normal = take(c, "ch:multicast", 1, rate=RATE, capacity=CAPACITY, emergency=False)
        again = take(c, "ch:multicast", 1, rate=RATE, capacity=CAPACITY, emergency=True)
    assert emergency.granted == 5
    assert normal.granted == 0 and normal.held > 0
    assert again.granted == 1


def test_two_replicas_pacers_share_one_rate_and_an_order_goes_first(
    postgres_engine: Engine, tmp_path: object
) -> None:
    """Counted in tokens, not in seconds, so a loaded machine cannot fail it: once the
    order asks, only the tokens already handed to the other replica's senders (one grant)
    and those taken in the same round trip go to normal sends before each of its own."""
    settings = line_settings(tmp_path, "sqlite://")  # type: ignore[arg-type]
    rates = RateLimitSettings(multicast=RATE)
    normal_tokens = 300

    async def main() -> tuple[int, float, list[int]]:
        pacers = [SharedPacer(postgres_engine, settings, rates=rates) for _ in range(2)]
        for pacer in pacers:
            await pacer.open()
        granted: list[bool] = []  # True: an emergency token, in the order they were handed
        busy = asyncio.Event()
        tick = asyncio.Event()  # a normal token was handed out
        overtaken: list[int] = []

        async def normal(pacer: SharedPacer) -> None:
            while sum(not e for e in granted) < normal_tokens:
                await pacer.acquire("multicast", emergency=False)
                granted.append(False)
                tick.set()
                if len(granted) >= 40:
                    busy.set()

        async def order(pacer: SharedPacer) -> None:
            await busy.wait()  # 16 normal senders are competing for every token
            for _ in range(10):
                # As a sender would between two requests: others take tokens meanwhile
                # (else the order would spend its own grant's tokens before they wake).
                tick.clear()
                await tick.wait()
                asked = len(granted)
                await pacer.acquire("multicast", emergency=True)
                overtaken.append(sum(not e for e in granted[asked:]))
                granted.append(True)

        began = time.monotonic()
        await asyncio.gather(*(normal(p) for p in pacers for _ in range(8)), order(pacers[1]))
        elapsed = time.monotonic() - began
        for pacer in pacers:
            await pacer.close()
        return len(granted), elapsed, overtaken

    total, elapsed, overtaken = asyncio.run(main())
    assert total <= CAPACITY + RATE * (elapsed + 0.05)
    grant = max(1, int(RATE * GRANT_SECONDS))
    assert max(overtaken) <= 2 * grant, overtaken
