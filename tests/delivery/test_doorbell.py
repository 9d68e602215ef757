"""The doorbell: rung in another process (as the dispatch process does after each chunk),
heard on the worker's event loop."""

from __future__ import annotations

import asyncio
import multiprocessing

from broadcaster.delivery.doorbell import Doorbell


def _ring_twice(doorbell: Doorbell) -> None:
    doorbell.ring()
    doorbell.ring()


def test_a_ring_from_a_spawned_process_wakes_the_listening_loop() -> None:
    doorbell = Doorbell()

    async def main() -> int:
        heard = asyncio.Event()
        count = 0

        def wake() -> None:
            nonlocal count
            count += 1
            heard.set()

        doorbell.listen(asyncio.get_running_loop(), wake)
        child = multiprocessing.get_context("spawn").Process(
            target=_ring_twice, args=(doorbell,)
        )
        child.start()
        try:
            await asyncio.wait_for(heard.wait(), 30)
        finally:
            await asyncio.to_thread(child.join, 30)
        return count

    try:
        assert asyncio.run(main()) >= 1
    finally:
        doorbell.close()


def test_ringing_a_full_pipe_never_blocks() -> None:
    doorbell = Doorbell()
    try:
        for _ in range(100_000):  # far more than a pipe holds
            doorbell.ring()
    finally:
        doorbell.close()
