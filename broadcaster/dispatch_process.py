"""Writing a broadcast's outbox in a process of its own.

Dispatch (reading the audience, rendering, writing batches and deliveries) is CPU work in
Python, and so is sending. In one process they take turns holding the GIL: a city-wide
broadcast to 1M residents then took 12 s against LINE's 10 s floor, the senders waiting
on the dispatch. In a second process dispatch gets its own core and the same run takes
11 s. The process is started once, with the service, and keeps its own engine and renderer.

Only scheduled broadcasts go this way (an evacuation order takes the emergency lane, in
the service's process). The child rings the worker's doorbell as each chunk is committed,
so the first batch is claimed at once, not at the worker's next poll.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.broadcasts import Broadcast
from broadcaster.children import die_with_parent
from broadcaster.db import make_engine
from broadcaster.delivery.doorbell import Doorbell
from broadcaster.delivery.gate import EmergencyGate
from broadcaster.features import register_features
from broadcaster.heap import freeze_long_lived_objects
from broadcaster.outbox import DispatchResult, dispatch
from broadcaster.planning import plan_for
from broadcaster.render import Renderer
from broadcaster.settings import Settings

# Set once in the child by _start; a module global is the only state a pool worker keeps.
_child: tuple[Engine, Settings, Renderer, EmergencyGate | None, Doorbell | None] | None = None


def _start(settings: Settings, gate: EmergencyGate | None, doorbell: Doorbell | None) -> None:
    global _child
    parent = multiprocessing.parent_process()
    assert parent is not None and parent.pid is not None, "started by DispatchProcess"
    die_with_parent(parent.pid)
    register_features()  # the child plans broadcasts, so it needs every kind's policy
    _child = (
        make_engine(settings.resolved_database_url),
        settings,
        Renderer.from_settings(settings),
        gate,
        doorbell,
    )
    freeze_long_lived_objects()


def _dispatch(broadcast_id: int, now: datetime) -> DispatchResult:
    assert _child is not None, "the dispatch process was not started"
    engine, settings, renderer, gate, doorbell = _child
    with Session(engine, expire_on_commit=False) as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise LookupError(f"no broadcast {broadcast_id}")
        # The plan is rebuilt here (it holds SQL expressions and a render function, which
        # do not cross processes); at the same `now` it is the plan the caller checked
        # (quiet hours were minded before the claim).
        plan = plan_for(session, broadcast, settings, renderer, now, mind_quiet_hours=False)
        ring = doorbell.ring if doorbell is not None else None
        return dispatch(session, broadcast, plan, now, gate=gate, on_commit=ring)


class DispatchProcess:
    """One long-lived child process that dispatches broadcasts by id."""

    def __init__(
        self,
        settings: Settings,
        gate: EmergencyGate | None = None,
        doorbell: Doorbell | None = None,
    ) -> None:
        """`gate`: the service's emergency gate, which the child's dispatches yield to;
        `doorbell`: the worker's, rung after each committed chunk."""
        # spawn: a clean child (not a copy of the parent's threads and sockets) that is our
        # own, so it can be tied to our life.
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(settings, gate, doorbell),
        )
        self._started: Future[int] | None = None

    def warm_up(self) -> None:
        """Start the child now rather than at the first broadcast (it imports for a second
        or more). Returns at once: the start is not waited for, so the service answers
        meanwhile; a dispatch submitted before the child is up waits for it."""
        self._started = self._pool.submit(int)

    @property
    def ready(self) -> bool:
        """Whether the child is up (`warm_up` has finished)."""
        return self._started is not None and self._started.done()

    def dispatch(self, broadcast_id: int, now: datetime) -> DispatchResult:
        """Dispatch and wait for it (blocking the calling thread only). Raises what the
        child's dispatch raised."""
        return self._pool.submit(_dispatch, broadcast_id, now).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
