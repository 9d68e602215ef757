"""`broadcaster residents ...`: the staff import of verified attributes, from a terminal."""

from __future__ import annotations

# Lazy imports: commands import what they use when they run, so that `broadcaster
# --help` and each command start in a fraction of a second (issue 17).
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# Only typer at the top: `broadcaster --help` imports this module (see broadcaster.cli).
from broadcaster.command import ActorOption, group, migrated_engine, operator

if TYPE_CHECKING:
    from rich.console import Console

    from segments.importer import ImportPlan

residents_app = group("Residents: verified attribute imports.")


def _show(console: Console, plan: ImportPlan, limit: int = 50) -> None:
    from rich.table import Table

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
    actor: ActorOption = None,
    config: Annotated[Path | None, typer.Option("--config", help="config.toml to read")] = None,
) -> None:
    """Import staff-verified birth dates, household flags and attributes (all or nothing)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from broadcaster import audit
    from broadcaster.clock import local, utcnow
    from broadcaster.command import settings_or_exit
    from broadcaster.db import session_scope
    from segments.importer import ImportRejected, apply_import, decode, plan_import

    console = Console(stderr=True)
    settings = settings_or_exit(config)
    engine = migrated_engine(settings)
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
                audit.record(
                    session,
                    at=now,
                    actor=operator(actor),
                    action="residents.import",
                    entity="resident",
                    after={"file": file.name, "rows": len(plan.rows), "changed": plan.changed,
                           "verified_by": verified_by},
                )
    except ImportRejected as exc:
        console.print(f"[red]error:[/red] {len(exc.errors)} bad row(s) in {file}; nothing applied")
        for error in exc.errors:
            console.print(f"  {error}", highlight=False)
        raise typer.Exit(1) from None
    _show(console, plan)
    verb = "would change" if dry_run else "changed"
    console.print(f"{len(plan.rows)} row(s) checked; {verb} {plan.changed} resident(s)")
