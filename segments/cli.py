"""`broadcaster residents ...`: the staff import of verified attributes, from a terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from broadcaster.cli_settings import settings_or_exit
from broadcaster.clock import local, utcnow
from broadcaster.db import make_engine, session_scope
from segments.importer import ImportPlan, ImportRejected, apply_import, decode, plan_import

residents_app = typer.Typer(no_args_is_help=True, help="Residents: verified attribute imports.")
console = Console(stderr=True)


def _show(plan: ImportPlan, limit: int = 50) -> None:
    table = Table("line", "resident", "field", "old", "new")
    shown = 0
    for row in plan.rows:
        for change in row.changes:
            if shown < limit:
                table.add_row(str(row.line), row.user, change.field, change.old or "—", change.new)
            shown += 1
    if shown:
        console.print(table)
    if shown > limit:
        console.print(f"… and {shown - limit} more change(s)")


@residents_app.command("import")
def import_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV keyed by line_user_id")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check and show changes, write nothing")
    ] = False,
    verified_by: Annotated[
        str, typer.Option(help="who checked these residents (stored)")
    ] = "staff import",
    config: Annotated[Path | None, typer.Option("--config", help="config.toml to read")] = None,
) -> None:
    """Import staff-verified birth dates, household flags and attributes (all or nothing)."""
    settings = settings_or_exit(config)
    engine = make_engine(settings.resolved_database_url)
    now = utcnow()
    try:
        text = decode(file.read_bytes())
        with (
            session_scope(engine) as session,
            Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
            ) as progress,
        ):
            checking = progress.add_task("checking", total=None)
            plan = plan_import(
                session,
                text,
                settings.residents,
                today=local(now, settings.tz).date(),
                progress=lambda done, total: progress.update(checking, completed=done, total=total),
            )
            if not dry_run:
                applying = progress.add_task("applying", total=len(plan.rows))
                apply_import(
                    session,
                    plan,
                    verified_by=verified_by,
                    now=now,
                    progress=lambda done, total: progress.update(
                        applying, completed=done, total=total
                    ),
                )
    except ImportRejected as exc:
        console.print(f"[red]error:[/red] {len(exc.errors)} bad row(s) in {file}; nothing applied")
        for error in exc.errors:
            console.print(f"  {error}", highlight=False)
        raise typer.Exit(1) from None
    _show(plan)
    verb = "would change" if dry_run else "changed"
    console.print(f"{len(plan.rows)} row(s) checked; {verb} {plan.changed} resident(s)")
