"""`broadcaster calendar …`: import, export and fetch garbage calendars from the shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from broadcaster.cli_settings import ConfigOption, console, settings_or_exit
from broadcaster.clock import utcnow
from broadcaster.db import make_engine, session_scope
from broadcaster.garbage.export import export_calendar
from broadcaster.garbage.fetch import fetch_due
from broadcaster.garbage.ical import CalendarError
from broadcaster.garbage.importer import import_calendar, record_refusal

calendar_app = typer.Typer(no_args_is_help=True, help="Garbage-collection calendars.")


@calendar_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="an .ics file", exists=True, dir_okay=False)],
    zone: Annotated[str | None, typer.Option(help="the zone of a single-zone file")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what would change, change nothing")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Replace the future collection days of the file's zone(s); prints what changed."""

    settings = settings_or_exit(config)
    engine = make_engine(settings.resolved_database_url)
    now = utcnow()
    source = f"file:{file.name}"
    try:
        with session_scope(engine) as session:
            result = import_calendar(
                session,
                file.read_bytes(),
                settings=settings,
                now=now,
                actor="cli",
                source=source,
                zone=zone,
                dry_run=dry_run,
            )
    except CalendarError as exc:
        if not dry_run:
            with session_scope(engine) as session:
                record_refusal(session, now=now, actor="cli", source=source, zone=zone, error=exc)
        console.print(f"[red]refused:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    for name, diff in result.diffs.items():
        console.print(
            f"zone {name}: {len(diff.added)} added, {len(diff.removed)} removed, "
            f"{len(diff.moved)} moved, {len(diff.changed)} changed",
            highlight=False,
        )
    for item in result.unmapped:
        console.print(
            f"[yellow]unmapped[/yellow] zone {item['zone']}: {item['summary']} "
            f"on {', '.join(item['dates'])}"
        )
    for warning in result.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}", highlight=False)
    if dry_run:
        console.print("dry run: nothing changed")
    json.dump(result.as_dict(), sys.stdout, ensure_ascii=False, indent=1)
    print()


@calendar_app.command("export")
def export_zone(zone: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Print a zone's future collection days as iCal."""

    settings = settings_or_exit(config)
    with session_scope(make_engine(settings.resolved_database_url)) as session:
        sys.stdout.buffer.write(export_calendar(session, zone, settings, utcnow()))


@calendar_app.command("fetch")
def fetch(config: ConfigOption = None) -> None:
    """Fetch every configured source now (garbage.sources)."""

    settings = settings_or_exit(config)
    outcomes = fetch_due(
        make_engine(settings.resolved_database_url), settings, utcnow(), force=True
    )
    for outcome in outcomes:
        mark = "ok" if outcome.ok else "[red]failed[/red]"
        console.print(f"{outcome.zone} {outcome.url}: {mark} {outcome.message}", highlight=False)
    if any(not outcome.ok for outcome in outcomes):
        raise typer.Exit(1)
