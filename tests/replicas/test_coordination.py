"""Replicas on one database: one leader, failover when its session ends, a dead replica's
batch and dispatch leases taken over at once, a living one's never; digests claimed once.

The PostgreSQL tests end a replica's session with `pg_terminate_backend`, which is what
the server sees when a process is killed with SIGKILL: its socket closes, its session
ends, its advisory locks go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster import replicas
from broadcaster.batches import Batch
from broadcaster.broadcasts import Broadcast
from broadcaster.db import table_of
from broadcaster.delivery.claims import claim_batches
from broadcaster.digest import DigestEntry, _claim_entries
from broadcaster.replicas import LEADER_KEY, LOCK_SPACE, Coordinator
from tests.delivery.scenario import add_residents, dispatch_now, new_broadcast, text_plan

NOW = datetime(2026, 4, 1, 9, tzinfo=UTC)
BATCH = table_of(Batch)
BROADCAST = table_of(Broadcast)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Poll `condition` until it holds; returns the seconds it took (fails after timeout)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def coordinators(postgres_engine: Engine) -> Iterator[Callable[[str], Coordinator]]:
    started: list[Coordinator] = []

    def start(owner: str) -> Coordinator:
        coordinator = Coordinator(postgres_engine, owner, retry_seconds=0.1)
        coordinator.start()
        started.append(coordinator)
        return coordinator

    yield start
    for coordinator in started:
        coordinator.stop()


def die(engine: Engine, coordinator: Coordinator) -> None:
    """As kill -9 would: its loop stops and the server ends its session."""
    coordinator._stop.set()
    if coordinator._thread is not None:
        coordinator._thread.join()
    held = sa.text(
        "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.classid = :space "
        "AND l.objid = :key AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    key = {"space": LOCK_SPACE, "key": coordinator._id}
    with engine.connect() as connection:
        for pid in connection.execute(held, key).scalars().all():
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    coordinator._disconnect()  # its connection is gone with its session
    # pg_terminate_backend only signals: the session ends (and its locks go) a moment later.
    with engine.connect() as connection:

        def released() -> bool:
            connection.rollback()  # a fresh snapshot of pg_locks each time
            return connection.execute(held, key).first() is None

        wait_for(released, timeout=10)


def test_on_sqlite_the_one_process_leads_and_is_the_only_one_alive(sqlite_engine: Engine) -> None:
    seen: list[bool] = []
    coordinator = Coordinator(sqlite_engine, "solo:1", seen.append)
    coordinator.start()
    try:
        assert coordinator.leading and seen == [True]
        with sqlite_engine.connect() as connection:
            assert replicas.alive_owners(connection) == ["solo:1"]
    finally:
        coordinator.stop()
    assert seen == [True, False]


@pytest.mark.postgres
def test_one_replica_leads_and_another_takes_over_when_its_session_ends(
    postgres_engine: Engine, coordinators: Callable[[str], Coordinator]
) -> None:
    a, b, c = coordinators("a:1"), coordinators("b:1"), coordinators("c:1")
    assert [a.leading, b.leading, c.leading] == [True, False, False]
    die(postgres_engine, a)
    took = wait_for(lambda: b.leading or c.leading)
    assert took < 5.0
    assert not (b.leading and c.leading)
    with postgres_engine.connect() as connection:
        alive = set(connection.execute(replicas.alive_owners(connection)).scalars())  # type: ignore[arg-type]
        holders = connection.execute(
            sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND classid = :space AND objid = :key AND granted"),
            {"space": LOCK_SPACE, "key": LEADER_KEY},
        ).scalar_one()
    assert alive == {"b:1", "c:1"} and holders == 1


@pytest.mark.postgres
def test_a_stopping_leader_hands_over_at_once(
    postgres_engine: Engine, coordinators: Callable[[str], Coordinator]
) -> None:
    a, b = coordinators("a:1"), coordinators("b:1")
    assert a.leading
    a.resign()  # a rolling restart: the scheduler goes first, the replica stays alive
    assert not a.leading
    assert wait_for(lambda: b.leading) < 1.0
    with postgres_engine.connect() as connection:
        alive = set(connection.execute(replicas.alive_owners(connection)).scalars())  # type: ignore[arg-type]
    assert alive == {"a:1", "b:1"}
    a.stop()
    with postgres_engine.connect() as connection:
        alive = set(connection.execute(replicas.alive_owners(connection)).scalars())  # type: ignore[arg-type]
    assert alive == {"b:1"}


@pytest.mark.postgres
def test_a_dead_replicas_batch_leases_are_freed_at_once_a_living_ones_never(
    postgres_engine: Engine, coordinators: Callable[[str], Coordinator]
) -> None:
    add_residents(postgres_engine, 2000)
    broadcast = new_broadcast(postgres_engine)
    dispatch_now(postgres_engine, broadcast.id, text_plan(), now=NOW)
    leader, a, b = coordinators("lead:1"), coordinators("a:1"), coordinators("b:1")
    lease = timedelta(minutes=5)  # far longer than the test: only the death frees them
    now = datetime.now(UTC)
    with postgres_engine.begin() as connection:
        mine = claim_batches(connection, a.owner, now, 2, lease)
        theirs = claim_batches(connection, b.owner, now, 2, lease)
    assert len(mine) == len(theirs) == 2 and leader.leading

    def owners() -> dict[int, str | None]:
        with postgres_engine.connect() as connection:
            return dict(connection.execute(sa.select(BATCH.c.id, BATCH.c.lease_owner)).all())

    die(postgres_engine, a)
    wait_for(lambda: all(owners()[c.batch.id] is None for c in mine))
    assert all(owners()[c.batch.id] == b.owner for c in theirs)
    with postgres_engine.begin() as connection:  # and anyone may claim them now
        again = claim_batches(connection, b.owner, now, 10, lease)
    assert {c.batch.id for c in mine} <= {c.batch.id for c in again}


@pytest.mark.postgres
def test_a_resume_takes_only_a_dead_writers_dispatch(
    postgres_engine: Engine, coordinators: Callable[[str], Coordinator]
) -> None:
    writer, other = coordinators("writer:1"), coordinators("other:1")
    broadcast = new_broadcast(postgres_engine)
    with postgres_engine.begin() as connection:
        connection.execute(
            sa.update(BROADCAST).where(BROADCAST.c.id == broadcast.id).values(status="sending")
        )
        replicas.lease_dispatch(connection, broadcast.id, writer.owner, NOW)

    def resumable() -> list[int]:
        with postgres_engine.connect() as connection:
            return list(connection.execute(
                sa.select(BROADCAST.c.id).where(replicas.resumable(connection, NOW))
            ).scalars())

    assert resumable() == []  # still being written
    with postgres_engine.begin() as connection:
        assert not replicas.take_over_dispatch(connection, broadcast.id, other.owner, NOW)
    die(postgres_engine, writer)
    assert resumable() == [broadcast.id]
    with postgres_engine.begin() as connection:
        assert replicas.take_over_dispatch(connection, broadcast.id, other.owner, NOW)
    with postgres_engine.begin() as connection:  # one taker only: the other is alive
        assert not replicas.take_over_dispatch(connection, broadcast.id, "third:1", NOW)
    # An expired lease is taken even from the living (a writer cut off for that long).
    expired = NOW + replicas.DISPATCH_LEASE + timedelta(seconds=1)
    with postgres_engine.begin() as connection:
        assert replicas.take_over_dispatch(connection, broadcast.id, "third:1", expired)


@pytest.mark.postgres
def test_two_replicas_gathering_the_digest_at_once_make_it_once(postgres_engine: Engine) -> None:
    items = [new_broadcast(postgres_engine).id for _ in range(3)]
    with Session(postgres_engine) as session:
        for item in items:
            session.add(DigestEntry(broadcast_id=item, folded_at=NOW))
        session.commit()
    first = Session(postgres_engine)
    assert _claim_entries(first, items)  # not committed yet: the rows are locked
    second: list[bool] = []

    def gather() -> None:
        with Session(postgres_engine) as session:
            second.append(_claim_entries(session, items))

    other = threading.Thread(target=gather)
    other.start()
    other.join(0.3)
    assert other.is_alive(), "the second claim waits for the first"
    first.commit()
    first.close()
    other.join(10)
    assert second == [False]
