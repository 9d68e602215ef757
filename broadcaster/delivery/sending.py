"""Sending: the delivery worker on a thread and event loop of its own, started first.

After a crash (or any restart) the batches already in the outbox must go out again at
once, and an evacuation order half sent is the reason. The service's application (every
router, the console, the jobs) takes seconds to import; the worker needs only the
database and the SDK. So `serve` starts sending before it imports the application, and
the application's lifespan adopts what is already running (or starts it, where nothing
came before: tests, an embedding).

Its own loop also keeps the requests in flight apart from the API's loop: a slow request
handler cannot hold up LINE's answers, nor a burst of answers the API.

Its doorbell (`delivery.doorbell`) is made here and heard on this loop; the gate is
handed in, since the emergency lane and the dispatch process share it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future

from sqlalchemy.engine import Engine

from broadcaster.delivery.doorbell import Doorbell
from broadcaster.delivery.gate import EmergencyGate
from broadcaster.delivery.line import LineSender
from broadcaster.delivery.shared_bucket import SharedPacer
from broadcaster.delivery.worker import DeliveryWorker
from broadcaster.settings import Settings

log = logging.getLogger(__name__)


def line_sender(engine: Engine, settings: Settings) -> LineSender:
    """LINE's pace: one bucket shared by every replica on PostgreSQL, this process's own
    on SQLite (one process; no database round trip per request)."""
    if engine.dialect.name == "postgresql":
        return LineSender(settings, SharedPacer(engine, settings))
    return LineSender(settings)


class Sending:
    """A `DeliveryWorker` running on its own thread. `start` returns once it is sending."""

    def __init__(self, engine: Engine, settings: Settings, gate: EmergencyGate) -> None:
        self.gate = gate
        self.worker = DeliveryWorker(
            engine, settings, gate=gate, sender=line_sender(engine, settings)
        )
        self.doorbell = Doorbell()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started: Future[None] = Future()

    def start(self) -> None:
        """Start the thread and wait until the worker is claiming (raises what its start
        raised)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sending", daemon=True)
            self._thread.start()
        self._started.result()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.worker.start())
            self.doorbell.listen(loop, self.worker.wake)
        except BaseException as exc:
            self._started.set_exception(exc)
            loop.close()
            return
        self._started.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def wake(self) -> None:
        """New batches were committed (callable from any thread)."""
        self.worker.wake_from_thread()

    def stop(self) -> None:
        """Stop the worker (requests in flight finish, results are recorded) and the
        thread. Safe to call twice, or before `start`."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            self.doorbell.close()
            return
        try:
            asyncio.run_coroutine_threadsafe(self.worker.stop(), loop).result()
        except Exception:
            log.exception("the delivery worker did not stop cleanly")
        finally:
            # On the loop: it is the loop's reader that the doorbell removes.
            loop.call_soon_threadsafe(self.doorbell.close)
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
