"""Engines, sessions and whether the schema is current.

SQLite (one file under the data directory) serves a town from one process; PostgreSQL
serves several replicas. Both get the same schema, through Alembic only (`migrate`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Engine
from sqlmodel import Session, SQLModel, create_engine

from broadcaster.clock import as_utc

# The newest migration (broadcaster/migrations/versions); a test holds it to Alembic's head.
SCHEMA_HEAD = "friend_figures"

# SQLite's page cache per connection, in KiB (its default is 2,000). `serve` holds a
# connection per thread that reads (API, claims, results, the scheduler's jobs): at the
# default, their caches filled by a 1M-resident audience took its peak RSS to 199-201 MB,
# at 1 MiB 193-195 MB, in the same time (bench/delivery.py). The file stays in the OS
# page cache, so a miss here costs a read call, not the disk.
SQLITE_CACHE_KIB = 1024

# JSON everywhere, JSONB where PostgreSQL can index and compare it.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on every engine.

    SQLite has no time zones and hands back naive values; refusing naive input here keeps a
    local time from ever being stored as if it were UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        converted = as_utc(value)
        return converted.replace(tzinfo=None) if dialect.name == "sqlite" else converted

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a `table=True` model, typed.

    SQLModel sets `__table__` at runtime but does not declare it, so type checkers reject
    `Model.__table__`; Core columns (`table_of(Model).c.name`) keep their SQL types.
    """
    table = sa.inspect(model).local_table
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not mapped to a table (is it table=True?)")
    return table


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas a busy SQLite file needs (WAL, foreign keys, waiting, a
    page cache of SQLITE_CACHE_KIB a connection)."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back when it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _applied_revisions(engine: Engine) -> set[str]:
    """The revisions Alembic has recorded in this database (empty for a new one)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return set()
        rows = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        return {row[0] for row in rows}


def pending_migrations(engine: Engine) -> list[str]:
    """Revisions not yet applied to this database, oldest first (empty when current).

    A database at SCHEMA_HEAD is answered by two small queries, without Alembic: `serve`
    asks at every start and /readyz at every probe, and Alembic (its script directory read
    from disk, 9 MB resident for the life of the process) is loaded only when the schema
    is behind.
    """
    if _applied_revisions(engine) == {SCHEMA_HEAD}:
        return []
    # Lazy: Alembic only for a database that is not current (see above).
    from broadcaster import migrate

    return migrate.pending(engine)
