"""What every `broadcaster` subcommand shares: its settings, its database and its operator.

Each failure a newcomer can run into (a bad setting, a database not migrated yet) ends the
command with one line naming the fix and a non-zero exit code, never a traceback. The
operator's name goes into the audit log with every change made from a terminal, so the
log answers "who did this" for the command line as it does for the API.

This module is imported by `broadcaster --help`, so it imports nothing heavy at the top:
SQLAlchemy, Alembic and pydantic load only when a command needs them.
"""

from __future__ import annotations

# Lazy imports: commands import what they use when they run, so that `broadcaster
# --help` and each command start in a fraction of a second (issue 17).
import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from broadcaster.settings import Settings

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="config.toml to read (default: ./config.toml)")
]
ActorOption = Annotated[
    str | None,
    typer.Option("--actor", help="your name for the audit log (default: your OS user name)"),
]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr as one line and exit with `code`."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit(config: Path | None) -> Settings:
    """Settings, or one line naming the bad key and exit code 2."""
    from broadcaster.settings import SettingsError, load_settings

    try:
        return load_settings(config)
    except SettingsError as exc:
        fail(str(exc), 2)


def not_migrated_message(pending: int) -> str:
    return (
        f"the database is not migrated ({pending} migration(s) pending); "
        "run `broadcaster db upgrade`"
    )


def migrated_engine(settings: Settings) -> Engine:
    """The database, checked to be reachable and at the code's schema; else one line, exit 1.

    Without this check a command on a fresh database fails deep inside SQLAlchemy with
    "no such table" and a traceback.
    """
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from broadcaster.db import make_engine, pending_migrations

    # No pool: a command's connections close when it is done with them, not at exit.
    engine = make_engine(settings.resolved_database_url, poolclass=NullPool)
    try:
        pending = pending_migrations(engine)
    except sa.exc.SQLAlchemyError as exc:
        fail(f"cannot reach the database: {type(exc).__name__}: {_first_line(exc)}")
    if pending:
        fail(not_migrated_message(len(pending)))
    return engine


def operator(actor: str | None) -> str:
    """How a command-line change appears in the audit log: `<name> (command line)`.

    The name is the one given with --actor, else the OS user running the command.
    """
    name = (actor or "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
    return f"{name[:100]} (command line)"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else ""


def group(help: str, **options: Any) -> typer.Typer:
    """A command group as every `broadcaster` group is made: plain help, plain errors.

    Rendering help or an error with rich imports ~0.1 s of modules, a third of the budget
    `broadcaster --help` has on a loaded machine.
    """
    options.setdefault("no_args_is_help", True)
    return typer.Typer(
        help=help, rich_markup_mode=None, pretty_exceptions_enable=False, **options
    )
