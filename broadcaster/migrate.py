"""The schema's migrations, through Alembic: applying them and saying what is pending.

Kept apart from `db` so a running service, whose schema is current, never loads Alembic
(see `db.pending_migrations`).
"""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine


def alembic_config(engine: Engine) -> Config:
    """Alembic's configuration for `engine`, from the package (no alembic.ini to ship)."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("broadcaster") / "migrations"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision` (all of them by default)."""
    command.upgrade(alembic_config(engine), revision)


def pending(engine: Engine) -> list[str]:
    """Revisions not yet applied to this database, oldest first, from Alembic's script
    directory: the slow path behind `db.pending_migrations`, which calls it only for a
    database that is not at `db.SCHEMA_HEAD`."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    behind: list[str] = []
    for revision in script.walk_revisions():
        if revision.revision in current:
            break
        behind.append(revision.revision)
    return list(reversed(behind))


def upgrade_and_report(engine: Engine) -> list[str]:
    """Apply pending migrations; lines saying what was done, for the operator.

    A brand-new database is said to be created (so a typo in `database_url` that makes a
    new empty file shows), each applied revision is named with its title, and a current
    database says so with its revision.
    """
    script = ScriptDirectory.from_config(alembic_config(engine))
    fresh = not sa.inspect(engine).get_table_names()
    pending_revisions = pending(engine)
    where = engine.url.render_as_string(hide_password=True)
    if not pending_revisions:
        with engine.connect() as connection:
            heads = MigrationContext.configure(connection).get_current_heads()
        return [f"database is up to date (revision {', '.join(heads)}) at {where}"]
    upgrade(engine)
    lines = [f"created a new database at {where}"] if fresh else []
    lines.append(f"applied {len(pending_revisions)} migration(s) to {where}:")
    for revision in pending_revisions:
        doc = (script.get_revision(revision).doc or "").strip().splitlines()
        lines.append(f"  {revision}  {doc[0] if doc else ''}".rstrip())
    return lines
