"""Engines, sessions and the schema's migration state.

SQLite (one file under the data directory) serves a town from one process; PostgreSQL
serves several replicas. Both get the same schema, through Alembic only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Engine
from sqlmodel import Session, SQLModel, create_engine

from broadcaster.clock import as_utc

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
    """An engine with the pragmas a busy SQLite file needs (WAL, foreign keys, waiting)."""
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


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("broadcaster") / "migrations"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def pending_migrations(engine: Engine) -> list[str]:
    """Revisions not yet applied to this database, oldest first (empty when current)."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    pending: list[str] = []
    for revision in script.walk_revisions():
        if revision.revision in current:
            break
        pending.append(revision.revision)
    return list(reversed(pending))


def upgrade_and_report(engine: Engine) -> list[str]:
    """Apply pending migrations; lines saying what was done, for the operator.

    A brand-new database is said to be created (so a typo in `database_url` that makes a
    new empty file shows), each applied revision is named with its title, and a current
    database says so with its revision.
    """
    script = ScriptDirectory.from_config(alembic_config(engine))
    fresh = not sa.inspect(engine).get_table_names()
    pending = pending_migrations(engine)
    where = engine.url.render_as_string(hide_password=True)
    if not pending:
        with engine.connect() as connection:
            heads = MigrationContext.configure(connection).get_current_heads()
        return [f"database is up to date (revision {', '.join(heads)}) at {where}"]
    upgrade(engine)
    lines = [f"created a new database at {where}"] if fresh else []
    lines.append(f"applied {len(pending)} migration(s) to {where}:")
    for revision in pending:
        doc = (script.get_revision(revision).doc or "").strip().splitlines()
        lines.append(f"  {revision}  {doc[0] if doc else ''}".rstrip())
    return lines
