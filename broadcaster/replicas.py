"""Several replicas on one database: who is alive, who leads, whose work may be taken over.

The database is the only coordination point. On PostgreSQL each replica keeps one
connection of its own (the *membership connection*) for as long as it runs, and holds
two session advisory locks on it:

- its **liveness lock** `(LOCK_SPACE, replica.id)`: the `replica` row names the lease
  owner (`replica:boot`) that lock stands for. A replica is alive exactly while its lock is
  held, so its death is known as soon as PostgreSQL ends its session (a killed process's
  socket closes at once: milliseconds, not a lease's 30 s). `alive_owners` reads this
  from `pg_locks`;
- the **leader lock** `(LOCK_SPACE, 0)`, if it won it (`pg_try_advisory_lock`, tried again
  every `RETRY_SECONDS` by the others). The leader alone runs the scheduler (ticks,
  digests, reminders, calendar fetches, resumes) and frees a dead replica's batch leases.
  When the leader dies its session ends, the lock is free, and the next try of another
  replica takes it: failover within about `RETRY_SECONDS`.

A replica that loses its membership connection (the server restarted, a network cut)
steps down at once and registers again; whatever it was doing is guarded anyway (batch
results are written only under its own lease, retry keys make a resend harmless).

On SQLite there is one process (the port check refuses a second `serve` on one file): it
leads from the start, and the owners registered in this process are the living ones.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from broadcaster.broadcasts import Broadcast, BroadcastStatus
from broadcaster.clock import utcnow
from broadcaster.db import UTCDateTime, table_of
from broadcaster.delivery.claims import BATCH, release_leases
from broadcaster.settings import Settings

log = logging.getLogger(__name__)

# First key of every advisory lock we take ('BRDC'); the second is 0 for the leader, a
# replica row's id for its liveness. Advisory locks are per database, so two databases on
# one server (CI's test databases) never see each other's.
LOCK_SPACE = 0x42524443
LEADER_KEY = 0
RETRY_SECONDS = 1.0
# A dispatch's lease. A living replica's dispatch is never taken over before it ends;
# a dead one's at once (its session ended). The lease is what is left when neither can be
# known: a replica alive but cut off from the database for this long.
DISPATCH_LEASE = timedelta(minutes=10)

# Process-wide: a restart is a new boot under the same replica id.
BOOT_ID = uuid.uuid4().hex[:8]
# SQLite: the owners whose services run in this process (the only process on the file).
_LOCAL_ALIVE: set[str] = set()

BROADCAST = table_of(Broadcast)


class Replica(SQLModel, table=True):
    """One boot of one replica; its id is the second key of its liveness lock."""

    __tablename__ = "replica"

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=64, unique=True)
    started_at: datetime = Field(sa_type=UTCDateTime)


REPLICA = table_of(Replica)


def replica_of(settings: Settings) -> str:
    return settings.server.replica_id or socket.gethostname()[:40]


def lease_owner(settings: Settings) -> str:
    """`replica:boot`: stable for the replica, new for each start of its process."""
    return f"{replica_of(settings)}:{BOOT_ID}"


def alive_owners(connection: Connection) -> sa.Select[tuple[str]] | list[str]:
    """The lease owners alive now: a subquery on PostgreSQL, a list on SQLite."""
    if connection.dialect.name != "postgresql":
        return sorted(_LOCAL_ALIVE)
    return (
        sa.select(REPLICA.c.owner)
        .select_from(REPLICA)
        .join(
            sa.text("pg_locks AS l"),
            sa.text(
                "l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                f"AND l.classid = {LOCK_SPACE} AND l.objid = replica.id::oid "
                "AND l.database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())"
            ),
        )
    )


def dead(owner: sa.ColumnElement[str | None], connection: Connection) -> sa.ColumnElement[bool]:
    """`owner` is nobody's (NULL) or a replica that is no longer alive."""
    return sa.or_(owner.is_(None), owner.not_in(alive_owners(connection)))


# -- dispatch leases ---------------------------------------------------------------------


def lease_dispatch(connection: Connection, broadcast_id: int, owner: str, now: datetime) -> None:
    """Mark a dispatch just claimed (scheduled -> sending) as `owner`'s."""
    connection.execute(
        sa.update(BROADCAST)
        .where(BROADCAST.c.id == broadcast_id)
        .values(dispatch_owner=owner, dispatch_lease_until=now + DISPATCH_LEASE)
    )


def take_over_dispatch(
    connection: Connection, broadcast_id: int, owner: str, now: datetime
) -> bool:
    """Take an interrupted dispatch (sending, not fully written) if its writer is dead or
    its lease ran out; the row count decides between replicas resuming it at once."""
    t = BROADCAST.c
    taken = connection.execute(
        sa.update(BROADCAST)
        .where(
            t.id == broadcast_id,
            t.status == BroadcastStatus.sending.value,
            t.dispatched_at.is_(None),
            sa.or_(dead(t.dispatch_owner, connection), t.dispatch_lease_until < now),
        )
        .values(dispatch_owner=owner, dispatch_lease_until=now + DISPATCH_LEASE)
    )
    return taken.rowcount == 1


def resumable(connection: Connection, now: datetime) -> sa.ColumnElement[bool]:
    """Interrupted dispatches nobody living is writing."""
    t = BROADCAST.c
    return sa.and_(
        t.status == BroadcastStatus.sending.value,
        t.dispatched_at.is_(None),
        sa.or_(dead(t.dispatch_owner, connection), t.dispatch_lease_until < now),
    )


def release_dead_leases(engine: Engine) -> int:
    """Free the batch leases of replicas that are no longer alive (the leader's sweep)."""
    with engine.begin() as connection:
        owner = BATCH.c.lease_owner
        return release_leases(
            connection, sa.and_(owner.is_not(None), owner.not_in(alive_owners(connection)))
        )


# -- membership and leadership -------------------------------------------------------------

Listener = Callable[[bool], None]


class Coordinator:
    """This process's membership and, when it wins it, leadership.

    `on_change(leading)` is called (from the coordinator's thread on PostgreSQL, from
    `start` on SQLite) when this replica becomes leader or stops being it. `resign` gives
    up leadership only (a rolling restart hands the scheduler over within one retry of
    the others); `stop` ends the membership connection and with it both locks.
    """

    def __init__(
        self,
        engine: Engine,
        owner: str,
        on_change: Listener | None = None,
        *,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.on_change = on_change
        self.retry_seconds = retry_seconds
        self.leading = False
        self.member = False
        self.became_leader_at: datetime | None = None
        self._id: int | None = None
        self._connection: Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def shared(self) -> bool:
        """Whether other processes may share the database (PostgreSQL)."""
        return self.engine.dialect.name == "postgresql"

    def start(self) -> None:
        if not self.shared:
            _LOCAL_ALIVE.add(self.owner)
            self.member = True
            self._set_leading(True)
            return
        self._stop.clear()
        self._step()  # the first try now: a lone replica leads before start() returns
        self._thread = threading.Thread(target=self._run, name="replica", daemon=True)
        self._thread.start()

    def resign(self) -> None:
        """Give up leadership now but stay a member (alive): a stopping replica hands the
        scheduler over at once while its sends in flight finish under its leases."""
        if not self.shared:
            self._set_leading(False)
            return
        self._stop_loop()
        if self.leading and self._connection is not None:
            try:
                self._connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:space, :key)"),
                    {"space": LOCK_SPACE, "key": LEADER_KEY},
                )
            except sa.exc.SQLAlchemyError:
                self._disconnect()
        self._set_leading(False)

    def stop(self) -> None:
        """Leave: no longer leader nor member (both locks go with the connection)."""
        if not self.shared:
            _LOCAL_ALIVE.discard(self.owner)
            self.member = False
            self._set_leading(False)
            return
        self._stop_loop()
        self._set_leading(False)
        self._unlock_all()
        self._disconnect()

    def _unlock_all(self) -> None:
        """Release both locks before the connection closes. Closing alone is not enough to
        be known gone at once: PostgreSQL ends the session (and its locks) only when its
        backend notices the closed socket, a few milliseconds later, and until then
        `alive_owners` still names this replica (its leases look alive)."""
        if self._connection is None:
            return
        with contextlib.suppress(sa.exc.SQLAlchemyError):  # gone already, locks with it
            self._connection.execute(sa.text("SELECT pg_advisory_unlock_all()"))

    def _stop_loop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # -- the PostgreSQL loop -----------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.retry_seconds):
            self._step()

    def _step(self) -> None:
        try:
            connection = self._connect()
            if not self.leading:
                won = connection.execute(
                    sa.text("SELECT pg_try_advisory_lock(:space, :key)"),
                    {"space": LOCK_SPACE, "key": LEADER_KEY},
                ).scalar_one()
                if won:
                    self._set_leading(True)
            else:
                connection.execute(sa.text("SELECT 1"))  # still the leader's session?
            if self.leading:
                released = release_dead_leases(self.engine)
                if released:
                    log.info("freed %d batch lease(s) of replicas no longer alive", released)
        except sa.exc.SQLAlchemyError:
            log.warning("replica %s lost its membership connection; registering again",
                        self.owner, exc_info=True)
            self._set_leading(False)
            self._disconnect()

    def _connect(self) -> Connection:
        if self._connection is not None:
            return self._connection
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            if self._id is None:
                self._id = connection.execute(
                    sa.insert(REPLICA)
                    .values(owner=self.owner, started_at=utcnow())
                    .returning(REPLICA.c.id)
                ).scalar_one()
            connection.execute(
                sa.text("SELECT pg_advisory_lock(:space, :key)"),
                {"space": LOCK_SPACE, "key": self._id},
            )
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        self.member = True
        return connection

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        self.member = False
        if connection is not None:
            try:
                connection.invalidate()  # never back to the pool: its locks die with it
                connection.close()
            except sa.exc.SQLAlchemyError:
                pass

    def _set_leading(self, leading: bool) -> None:
        if leading == self.leading:
            return
        self.leading = leading
        self.became_leader_at = utcnow() if leading else None
        log.info("replica %s %s", self.owner, "leads" if leading else "no longer leads")
        if self.on_change is not None:
            try:
                self.on_change(leading)
            except Exception:
                log.exception("leadership listener failed")


def prune_replicas(engine: Engine, older_than: timedelta = timedelta(days=1)) -> int:
    """Forget boots that are long dead (their rows only name old leases)."""
    with engine.begin() as connection:
        if connection.dialect.name != "postgresql":
            return 0
        return connection.execute(
            sa.delete(REPLICA).where(
                REPLICA.c.started_at < utcnow() - older_than,
                REPLICA.c.owner.not_in(alive_owners(connection)),
            )
        ).rowcount
