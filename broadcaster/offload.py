"""Heavy request work (parsing an import, an alert document) runs off the event loop.

The event loop serves the webhook and drives the sender; a route that parses a 20 MB CSV
on it stalls both for seconds. `off_loop` runs the work in the thread pool, and pauses
Python's cyclic garbage collector while it runs: an import allocates millions of small
objects that stay alive until it ends, and each full collection they trigger rescans them
all while holding the GIL (measured: 0.5-0.9 s pauses of the whole process during a 20 MB
residents import; none with the collector paused). Reference counting still frees
everything that is not in a cycle; the collector resumes when the last such job ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_running = 0
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for this block (nestable, across threads)."""
    global _running, _was_enabled
    with _lock:
        if _running == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0 and _was_enabled:
                gc.enable()


def _paused(function: Callable[P, T]) -> Callable[P, T]:
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with collector_paused():
            return function(*args, **kwargs)

    return run


async def off_loop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`function(*args, **kwargs)` in the thread pool, with the collector paused."""
    return await run_in_threadpool(_paused(function), *args, **kwargs)
