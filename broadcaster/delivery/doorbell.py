"""The doorbell: the dispatch process tells the worker that new batches are committed.

A worker finds new batches by polling (every 0.1 s) unless it is woken. In the service's
own process the dispatch path wakes it directly; a dispatch written in the dispatch
process could not, and the first batch of every notice waited for the next poll (half
the time to its first acceptance). The doorbell is a pipe: the dispatch process writes a
byte after each committed chunk, and the worker's event loop watches the other end
(`listen`), so the worker claims within moments of the commit with no thread waiting.

Ringing never blocks: a full pipe already means "there is work".
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.context import BaseContext
from typing import Any


class Doorbell:
    """Rung from any process (picklable for the dispatch process: only the ringing end
    goes there), heard in the process whose event loop `listen`s."""

    def __init__(self, context: BaseContext | None = None) -> None:
        ctx: Any = context or multiprocessing.get_context("spawn")
        self._reader, self._writer = ctx.Pipe(duplex=False)
        # Neither end ever waits: a byte per committed chunk, and a full pipe is a bell
        # already rung. (The flag is the pipe's, so the child's copy of the end has it.)
        os.set_blocking(self._reader.fileno(), False)
        os.set_blocking(self._writer.fileno(), False)
        self._listening: asyncio.AbstractEventLoop | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"_writer": self._writer}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._writer = state["_writer"]
        self._reader = None
        self._listening = None

    def ring(self) -> None:
        """New work is committed (a single byte written, never blocking)."""
        with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
            os.write(self._writer.fileno(), b"\x01")

    def listen(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        """Call `callback` on `loop` whenever the bell rings (rings in a burst: once)."""
        assert self._reader is not None, "only the process that made the bell listens"
        fd = self._reader.fileno()

        def heard() -> None:
            with contextlib.suppress(BlockingIOError, OSError):
                while os.read(fd, 4096):
                    pass
            callback()

        loop.add_reader(fd, heard)
        self._listening = loop

    def close(self) -> None:
        if self._listening is not None and self._reader is not None:
            with contextlib.suppress(Exception):
                self._listening.remove_reader(self._reader.fileno())
            self._listening = None
        for end in (self._reader, self._writer):
            if end is not None:
                end.close()
