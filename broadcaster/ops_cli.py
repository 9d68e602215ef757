"""The operator's commands: `doctor`, `demo`, `db backup`, and residents' data rights.

Kept apart from `broadcaster.cli` so that file stays the map of the command, and imported
lazily inside each command for the same reason as there (`--help` must stay fast).
"""

from __future__ import annotations

# Lazy imports: commands import what they use when they run, so that `broadcaster
# --help` and each command start in a fraction of a second (issue 17).
from pathlib import Path
from typing import Annotated

import typer

from broadcaster.command import (
    ActorOption,
    ConfigOption,
    fail,
    group,
    migrated_engine,
    operator,
    settings_or_exit,
)

privacy_app = group(
    "Residents' data rights: export or erase one resident, retention, change of vendor."
)


def register(app: typer.Typer, db_app: typer.Typer) -> None:
    """Add these commands to the `broadcaster` command and its `db` group."""
    app.command("doctor")(doctor)
    app.command("demo")(demo)
    db_app.command("backup")(db_backup)
    app.add_typer(privacy_app, name="privacy")


def doctor(config: ConfigOption = None) -> None:
    """Check configuration, database, LINE channel, webhook, garbage department and clock.

    One line per check; exit code 0 when all pass, 1 when any fails (warnings pass), so a
    monitoring system can run it.
    """
    from broadcaster.doctor import run_checks

    settings = settings_or_exit(config)
    results = run_checks(settings)
    for result in results:
        typer.echo(result.line())
    raise typer.Exit(0 if all(r.passed for r in results) else 1)


def demo(
    config: ConfigOption = None,
    actor: ActorOption = None,
) -> None:
    """Fill the database with a demo town (residents, calendar, shelters, departments,
    notices) and print how to sign in. Refuses a database that already has residents."""
    from broadcaster.clock import utcnow
    from broadcaster.demo import DemoRefused, build_demo

    settings = settings_or_exit(config)
    engine = migrated_engine(settings)
    try:
        lines = build_demo(engine, settings, operator(actor), utcnow())
    except DemoRefused as exc:
        fail(str(exc))
    for line in lines:
        typer.echo(line)


def db_backup(
    destination: Annotated[Path, typer.Argument(help="the backup file to write (SQLite)")],
    config: ConfigOption = None,
) -> None:
    """Copy the SQLite database to a file while the service runs (SQLite's online backup).

    PostgreSQL is backed up with its own tools: `pg_dump --format=custom` (see README).
    """
    from broadcaster.backup import BackupError, backup_sqlite

    settings = settings_or_exit(config)
    try:
        pages = backup_sqlite(settings.resolved_database_url, destination)
    except BackupError as exc:
        fail(str(exc))
    typer.echo(f"backed up {pages} page(s) to {destination}", err=True)


@privacy_app.command("export")
def privacy_export(
    resident_file: Annotated[
        Path, typer.Argument(help="a file holding the resident's LINE user id (kept off argv)")
    ],
    actor: ActorOption = None,
    config: ConfigOption = None,
) -> None:
    """Print everything stored about one resident as JSON (the request is audited)."""
    import json

    from broadcaster.clock import utcnow
    from broadcaster.db import session_scope
    from broadcaster.privacy import UnknownResident, export_resident

    settings = settings_or_exit(config)
    engine = migrated_engine(settings)
    user_id = _read_user_id(resident_file)
    try:
        with session_scope(engine) as session:
            data = export_resident(session, user_id, actor=operator(actor), now=utcnow())
    except UnknownResident as exc:
        fail(str(exc))
    print(json.dumps(data, ensure_ascii=False, indent=1))


@privacy_app.command("erase")
def privacy_erase(
    resident_file: Annotated[
        Path, typer.Argument(help="a file holding the resident's LINE user id (kept off argv)")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="erase without asking")] = False,
    actor: ActorOption = None,
    config: ConfigOption = None,
) -> None:
    """Erase one resident: LINE id and every attribute; counts stay, anonymous (audited)."""
    from broadcaster.clock import utcnow
    from broadcaster.db import session_scope
    from broadcaster.privacy import ErasureDeferred, UnknownResident, erase_resident

    settings = settings_or_exit(config)
    engine = migrated_engine(settings)
    user_id = _read_user_id(resident_file)
    if not yes and not typer.confirm("erase this resident's data? this cannot be undone"):
        fail("nothing erased")
    try:
        with session_scope(engine) as session:
            resident_id = erase_resident(session, user_id, actor=operator(actor), now=utcnow())
    except (UnknownResident, ErasureDeferred) as exc:
        fail(str(exc))
    typer.echo(f"resident #{resident_id} erased", err=True)


@privacy_app.command("prune")
def privacy_prune(config: ConfigOption = None) -> None:
    """Delete delivery rows and webhook event ids older than [retention] now."""
    from broadcaster.clock import utcnow
    from broadcaster.db import session_scope
    from broadcaster.retention import prune

    settings = settings_or_exit(config)
    with session_scope(migrated_engine(settings)) as session:
        removed = prune(session, settings.retention, utcnow())
    typer.echo(
        f"removed {removed.deliveries} delivery row(s), {removed.webhook_events} webhook id(s)",
        err=True,
    )


@privacy_app.command("export-settings")
def export_settings(
    destination: Annotated[Path, typer.Argument(help="the JSON file to write")],
    actor: ActorOption = None,
    config: ConfigOption = None,
) -> None:
    """Write every resident's choices keyed by LINE user id, for a change of vendor."""
    import json

    from broadcaster.clock import utcnow
    from broadcaster.db import session_scope
    from broadcaster.transfer import TransferError, export_choices

    settings = settings_or_exit(config)
    try:
        with session_scope(migrated_engine(settings)) as session:
            document = export_choices(session, settings, actor=operator(actor), now=utcnow())
    except TransferError as exc:
        fail(f"{exc}; nothing written")

    destination.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    destination.chmod(0o600)
    typer.echo(f"{len(document['residents'])} resident(s) written to {destination}", err=True)


@privacy_app.command("import-settings")
def import_settings(
    source: Annotated[Path, typer.Argument(help="a file written by export-settings")],
    actor: ActorOption = None,
    config: ConfigOption = None,
) -> None:
    """Take residents' choices over from another installation on the same LINE channel."""
    from broadcaster.clock import utcnow
    from broadcaster.db import session_scope
    from broadcaster.transfer import TransferError, import_choices

    settings = settings_or_exit(config)
    engine = migrated_engine(settings)
    try:
        with session_scope(engine) as session:
            counts = import_choices(
                session, source.read_bytes(), settings, actor=operator(actor), now=utcnow()
            )
    except (TransferError, OSError) as exc:
        fail(f"{source}: {exc}; nothing imported")
    typer.echo(f"{counts.created} resident(s) added, {counts.updated} updated", err=True)


def _read_user_id(path: Path) -> str:
    """A LINE user id from a file: ids are personal data and a command line is visible to
    every user of the machine (`ps`) and kept in shell history."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    if not text or len(text.split()) != 1:
        fail(f"{path}: expected one LINE user id")
    return text
