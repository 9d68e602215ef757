"""The emergency lane: how an evacuation order enters delivery, ahead of everything.

The desk's request creates the order's broadcast, hands its id to `EmergencyLane.submit`
and answers at once. The lane closes the gate in the caller's thread (so normal sends hold
LINE's tokens from that moment), writes the order's outbox on a thread of its own, waking
the worker as each chunk is committed, and opens the gate when its batches are written.
Nothing else reaches into the worker: callers see only `submit`.

`inline=True` (an app without background work, as API tests run it) writes the outbox in
the caller's thread before `submit` returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from broadcaster.delivery.gate import EmergencyGate

log = logging.getLogger(__name__)

# Writes one broadcast's outbox (claim, plan, write), calling `on_commit` after each chunk.
Dispatch = Callable[[int, Callable[[], None] | None], Any]


class EmergencyLane:
    def __init__(
        self,
        gate: EmergencyGate,
        dispatch: Dispatch,
        *,
        wake: Callable[[], None] | None = None,
        inline: bool = False,
    ) -> None:
        self.gate = gate
        self._dispatch = dispatch
        self._wake = wake
        self._executor = (
            None if inline else ThreadPoolExecutor(max_workers=1, thread_name_prefix="emergency")
        )

    def submit(self, broadcast_id: int) -> Future[Any]:
        """Queue an emergency broadcast's outbox now; the future is its dispatch result."""
        self.gate.entered()
        if self._executor is None:
            done: Future[Any] = Future()
            try:
                done.set_result(self._run(broadcast_id))
            except Exception as exc:
                done.set_exception(exc)
            return done
        return self._executor.submit(self._run, broadcast_id)

    def _run(self, broadcast_id: int) -> Any:
        try:
            return self._dispatch(broadcast_id, self._wake)
        except Exception:
            log.exception("emergency broadcast %s could not be queued", broadcast_id)
            raise
        finally:
            self.gate.left()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
