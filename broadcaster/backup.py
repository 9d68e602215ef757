"""`broadcaster db backup`: a consistent copy of a live SQLite database.

Copying the file with `cp` while the service writes can give a torn copy (and misses the
WAL); SQLite's online backup API copies page by page under its own locking, so the copy is
a snapshot of one moment even while residents are being sent to. PostgreSQL has its own
tool for this (`pg_dump`), documented in the README.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

PAGES_PER_STEP = 1024  # ~4 MB at a time, so writers are never held for long


class BackupError(Exception):
    """The backup cannot be made; the message says why and what to do."""


def backup_sqlite(database_url: str, destination: Path) -> int:
    """Copy the database at `database_url` to `destination`; returns the pages copied."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            "the database is PostgreSQL: back it up with "
            "`pg_dump --format=custom --file=broadcaster.dump <database>` (see README)"
        )
    source_path = Path(url.database or "")
    if not url.database or url.database == ":memory:" or not source_path.exists():
        raise BackupError(f"no SQLite database at {source_path}; nothing to back up")
    if destination.exists():
        raise BackupError(f"{destination} exists; choose a new file")
    destination.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(destination)
        try:
            source.backup(target, pages=PAGES_PER_STEP)
            pages = int(target.execute("PRAGMA page_count").fetchone()[0])
        finally:
            target.close()
    finally:
        source.close()
    destination.chmod(0o600)
    return pages
