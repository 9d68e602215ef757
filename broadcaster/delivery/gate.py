"""The emergency lane's gate: normal work yields while an emergency is being queued.

An evacuation order must reach its residents as fast as LINE allows even while a
city-wide notice is going out. Two things would slow it: the notice's dispatch taking
the database's write lock between the order's chunks (SQLite has one writer), and the
notice's sends taking LINE's tokens while the order's first batches are being written.
So while any emergency is being queued the gate is closed, and
- a normal dispatch waits at its next chunk (`wait_clear`, in whatever process writes it:
  the gate is made from multiprocessing primitives and handed to the dispatch process);
- the senders hold their normal lane (`on_change` listeners, called with True when the
  gate closes and False when it opens), so the tokens that refill meanwhile are there for
  the order's first requests.

Closing and opening are explicit (`entered`/`left`, or `queueing()` around the work); the
count makes two orders at once keep it closed until both are queued. Waiters are bounded
by their own timeout, so a crashed emergency can hold nothing for long.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from typing import Any

log = logging.getLogger(__name__)

Listener = Callable[[bool], None]


class EmergencyGate:
    """Closed while at least one emergency is being queued. Picklable for a child process
    (listeners stay behind: they belong to the process that queues emergencies)."""

    def __init__(self, context: BaseContext | None = None) -> None:
        ctx: Any = context or multiprocessing.get_context("spawn")
        self._count = ctx.Value("i", 0)
        self._clear = ctx.Event()
        self._clear.set()
        self._listeners: list[Listener] = []

    def __getstate__(self) -> dict[str, Any]:
        return {"_count": self._count, "_clear": self._clear}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._count = state["_count"]
        self._clear = state["_clear"]
        self._listeners = []

    def on_change(self, listener: Listener) -> None:
        """Call `listener(closed)` whenever the gate closes or opens (in this process)."""
        self._listeners.append(listener)

    def _notify(self, closed: bool) -> None:
        for listener in self._listeners:
            try:
                listener(closed)
            except Exception:  # a listener's bug must not stop an order
                log.exception("emergency gate listener failed")

    def entered(self) -> None:
        """An emergency is being queued from now on."""
        with self._count.get_lock():
            self._count.value += 1
            first = self._count.value == 1
            self._clear.clear()
        if first:
            self._notify(True)

    def left(self) -> None:
        """One emergency is queued; the gate opens when none is being queued any more."""
        with self._count.get_lock():
            self._count.value = max(0, self._count.value - 1)
            last = self._count.value == 0
            if last:
                self._clear.set()
        if last:
            self._notify(False)

    @contextmanager
    def queueing(self) -> Iterator[None]:
        self.entered()
        try:
            yield
        finally:
            self.left()

    @property
    def closed(self) -> bool:
        return not self._clear.is_set()

    def wait_clear(self, timeout: float) -> bool:
        """Wait (blocking this thread) until no emergency is being queued, at most
        `timeout` seconds; returns whether the gate is open."""
        return bool(self._clear.wait(timeout))
