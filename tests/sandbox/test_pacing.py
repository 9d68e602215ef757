from __future__ import annotations

import asyncio
import math
import time

import pytest

from broadcaster.pacing import AsyncTokenBucket, TokenBucket, floor_seconds


def test_a_new_bucket_is_full_and_empties() -> None:
    bucket = TokenBucket(rate=10, capacity=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]


def test_tokens_refill_at_the_rate_up_to_capacity() -> None:
    bucket = TokenBucket(rate=10, capacity=3)
    for _ in range(3):
        bucket.take(0.0)
    assert not bucket.take(0.05)
    assert bucket.take(0.1)
    assert bucket.tokens(100.0) == 3


def test_take_never_takes_a_partial_amount() -> None:
    bucket = TokenBucket(rate=1, capacity=5)
    bucket.take(0.0, 4)
    assert not bucket.take(0.0, 2)
    assert bucket.tokens(0.0) == pytest.approx(1)


def test_wait_time_says_when_tokens_will_be_there() -> None:
    bucket = TokenBucket(rate=200, capacity=200)
    bucket.take(0.0, 200)
    assert bucket.wait_time(0.0) == pytest.approx(1 / 200)
    assert bucket.wait_time(0.0, 100) == pytest.approx(0.5)
    assert bucket.wait_time(1.0, 100) == 0.0


def test_waiting_for_more_than_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket(rate=1, capacity=2).wait_time(0.0, 3)


def test_a_clock_going_backwards_adds_no_tokens() -> None:
    bucket = TokenBucket(rate=1, capacity=1)
    bucket.take(10.0)
    assert not bucket.take(5.0)
    assert bucket.take(11.0)


def test_rate_limited_throughput_matches_the_rate() -> None:
    bucket = TokenBucket(rate=200, capacity=200)
    taken = sum(bucket.take(i / 1000) for i in range(10_000))  # 10 s, polled every 1 ms
    assert taken == pytest.approx(200 + 200 * 10, abs=2)


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (1, 0), (-1, 1)])
def test_nonsense_settings_are_refused(rate: float, capacity: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, capacity)


def test_floor_for_a_million_residents_is_ten_seconds() -> None:
    assert floor_seconds(1_000_000, 500, 200) == 10
    assert floor_seconds(501, 500, 200) == 2 / 200


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_acquirers_do_not_overshoot_the_rate() -> None:
    async def main() -> float:
        bucket = AsyncTokenBucket(rate=100, capacity=5)
        start = time.monotonic()
        await asyncio.gather(*(bucket.acquire() for _ in range(25)))
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    # 5 from the full bucket, then 20 at 100/s: at least 0.2 s.
    assert elapsed >= 0.19


def test_emergency_waiters_go_before_normal_waiters() -> None:
    async def main() -> list[str]:
        clock = FakeClock()
        bucket = AsyncTokenBucket(rate=1000, capacity=1, clock=clock)
        order: list[str] = []
        assert bucket.try_acquire()  # empty the bucket

        async def take(name: str, emergency: bool) -> None:
            await bucket.acquire(emergency=emergency)
            order.append(name)

        tasks = [asyncio.create_task(take(f"normal{i}", False)) for i in range(3)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(take("emergency", True)))
        await asyncio.sleep(0)
        for _ in range(1000):
            if all(task.done() for task in tasks):
                break
            clock.now += 0.001  # one token per step; the bucket holds no more than one
            await asyncio.sleep(0.002)
        await asyncio.wait_for(asyncio.gather(*tasks), 1)
        return order

    assert asyncio.run(main()) == ["emergency", "normal0", "normal1", "normal2"]


def test_a_cancelled_waiter_takes_nothing_and_frees_the_queue() -> None:
    async def main() -> bool:
        clock = FakeClock()
        bucket = AsyncTokenBucket(rate=1, capacity=1, clock=clock)
        bucket.try_acquire()
        first = asyncio.create_task(bucket.acquire())
        second = asyncio.create_task(bucket.acquire())
        await asyncio.sleep(0)
        first.cancel()
        clock.now = 1.0
        await asyncio.wait_for(second, 2)
        return math.isclose(bucket.bucket.tokens(clock.now), 0.0, abs_tol=1e-9)

    assert asyncio.run(main())


def test_acquiring_more_than_capacity_is_refused() -> None:
    async def main() -> None:
        await AsyncTokenBucket(rate=1, capacity=2).acquire(3)

    with pytest.raises(ValueError):
        asyncio.run(main())


def test_tokens_kept_while_normal_sends_are_held_go_to_the_emergency_at_once() -> None:
    """While an order is being queued, normal waiters get nothing and the tokens that
    refill stay in the bucket (up to its capacity) for the order's first requests."""

    async def main() -> list[str]:
        clock = FakeClock()
        bucket = AsyncTokenBucket(rate=1000, capacity=3, clock=clock)
        while bucket.try_acquire():  # empty it, as a busy normal broadcast leaves it
            pass
        order: list[str] = []

        async def take(name: str, emergency: bool) -> None:
            await bucket.acquire(emergency=emergency)
            order.append(name)

        bucket.hold_normal(1.0)
        normal = asyncio.create_task(take("normal", False))
        clock.now += 0.010  # 10 ms of refill, capped at 3 tokens
        await asyncio.sleep(0.01)
        assert order == []  # held: the normal waiter took nothing
        burst = [asyncio.create_task(take(f"emergency{i}", True)) for i in range(3)]
        await asyncio.wait_for(asyncio.gather(*burst), 1)  # no clock advance needed
        bucket.release_normal()
        clock.now += 0.002
        await asyncio.wait_for(normal, 1)
        return order

    order = asyncio.run(main())
    assert order == ["emergency0", "emergency1", "emergency2", "normal"]


def test_a_hold_ends_by_itself() -> None:
    async def main() -> None:
        clock = FakeClock()
        bucket = AsyncTokenBucket(rate=1000, capacity=1, clock=clock)
        bucket.hold_normal(0.005)
        normal = asyncio.create_task(bucket.acquire())
        await asyncio.sleep(0.01)
        assert not normal.done()
        clock.now += 0.005  # the hold is over: the waiter's own timer finds out
        await asyncio.wait_for(normal, 1)

    asyncio.run(main())
