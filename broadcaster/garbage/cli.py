"""`broadcaster calendar …`: import (iCal, 5374, sorting dictionary), export and fetch garbage
calendars from the shell."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from broadcaster.clock import utcnow
from broadcaster.db import make_engine, session_scope

calendar_app = typer.Typer(no_args_is_help=True, help="Garbage-collection calendars.")
# soft_wrap: a report line stays one line in a log or a pipe, whatever the terminal width.
console = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="config.toml to read (default: ./config.toml)")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="show what would change, change nothing")
]
StrictOption = Annotated[
    bool,
    typer.Option("--strict", help="refuse the whole file when any series or cell is bad"),
]


@calendar_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="an .ics file", exists=True, dir_okay=False)],
    zone: Annotated[str | None, typer.Option(help="the zone of a single-zone file")] = None,
    dry_run: DryRunOption = False,
    strict: StrictOption = False,
    config: ConfigOption = None,
) -> None:
    """Replace the future collection days of the file's zone(s); prints what changed."""
    from broadcaster.garbage.importer import import_calendar

    data = file.read_bytes()
    _run_import(
        f"file:{file.name}",
        zone,
        dry_run,
        config,
        lambda session, settings, now, source: import_calendar(
            session, data, settings=settings, now=now, actor="cli", source=source, zone=zone,
            dry_run=dry_run, strict=strict,
        ),
    )


@calendar_app.command("import-5374")
def import_5374_dir(
    directory: Annotated[
        Path,
        typer.Argument(
            help="a 5374 data folder: area_days.csv (center.csv, remarks.csv if any)",
            exists=True,
            file_okay=False,
        ),
    ],
    zone_column: Annotated[
        str | None,
        typer.Option(help="an area_days.csv column giving our zone (else 地名 via zone_aliases)"),
    ] = None,
    dry_run: DryRunOption = False,
    strict: StrictOption = False,
    config: ConfigOption = None,
) -> None:
    """Replace the future collection days of every zone of a 5374 data set."""
    from broadcaster.garbage.data5374 import AREA_DAYS, CENTER, REMARKS
    from broadcaster.garbage.importer import import_5374

    files = {
        name: (directory / name).read_bytes()
        for name in (AREA_DAYS, CENTER, REMARKS)
        if (directory / name).is_file()
    }
    _run_import(
        f"5374:{directory.name}",
        None,
        dry_run,
        config,
        lambda session, settings, now, source: import_5374(
            session, files, settings=settings, now=now, actor="cli", source=source,
            zone_column=zone_column, dry_run=dry_run, strict=strict,
        ),
    )


@calendar_app.command("import-dictionary")
def import_dictionary_file(
    file: Annotated[
        Path,
        typer.Argument(
            help="5374 target.csv (label,name,notice,furigana) or a CSV of 品目,区分,注意",
            exists=True,
            dir_okay=False,
        ),
    ],
    dry_run: DryRunOption = False,
    config: ConfigOption = None,
) -> None:
    """Replace the sorting dictionary residents search by sending an item's name."""
    from broadcaster.cli import settings_or_exit
    from broadcaster.garbage.days import CalendarError
    from broadcaster.garbage.sorting import import_dictionary

    settings = settings_or_exit(config)
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(engine) as session:
            report = import_dictionary(
                session, file.read_bytes(), now=utcnow(), actor="cli",
                source=f"dictionary:{file.name}", dry_run=dry_run,
            )
    except CalendarError as exc:
        console.print(f"[red]refused:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(
        f"{report['items']} items in {len(report['categories'])} categories; "
        f"languages: {', '.join(report['languages'])}",
        highlight=False,
    )
    for warning in report["warnings"]:
        console.print(f"[yellow]warning[/yellow] {warning}", highlight=False)
    if dry_run:
        console.print("dry run: nothing changed")
    json.dump(report, sys.stdout, ensure_ascii=False, indent=1)
    print()


def _run_import(
    source: str,
    zone: str | None,
    dry_run: bool,
    config: Path | None,
    run: Callable[..., object],
) -> None:
    """Run one import in a transaction; a refusal is recorded (unless dry) and exits 1."""
    from broadcaster.cli import settings_or_exit
    from broadcaster.garbage.days import CalendarError
    from broadcaster.garbage.importer import ImportResult, record_refusal

    settings = settings_or_exit(config)
    engine = make_engine(settings.resolved_database_url)
    now = utcnow()
    try:
        with session_scope(engine) as session:
            result = run(session, settings, now, source)
    except CalendarError as exc:
        if not dry_run:
            with session_scope(engine) as session:
                record_refusal(session, now=now, actor="cli", source=source, zone=zone, error=exc)
        console.print(f"[red]refused:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    assert isinstance(result, ImportResult)
    for name, diff in result.diffs.items():
        console.print(
            f"zone {name}: {len(diff.added)} added, {len(diff.removed)} removed, "
            f"{len(diff.moved)} moved, {len(diff.changed)} changed",
            highlight=False,
        )
    for item in result.skipped:
        console.print(
            f"[red]not imported[/red] {item['summary'] or '(no SUMMARY)'} "
            f"(UID {item['uid'] or '?'}): {item['reason']}",
            highlight=False,
        )
    for item in result.unmapped:
        console.print(
            f"[yellow]unmapped[/yellow] zone {item['zone']}: {item['summary']} "
            f"on {', '.join(item['dates'])}",
            highlight=False,
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
    from broadcaster.cli import settings_or_exit
    from broadcaster.garbage.export import export_calendar

    settings = settings_or_exit(config)
    with session_scope(make_engine(settings.resolved_database_url)) as session:
        sys.stdout.buffer.write(export_calendar(session, zone, settings, utcnow()))


@calendar_app.command("fetch")
def fetch(config: ConfigOption = None) -> None:
    """Fetch every configured source now (garbage.sources)."""
    from broadcaster.cli import settings_or_exit
    from broadcaster.garbage.fetch import fetch_due

    settings = settings_or_exit(config)
    outcomes = fetch_due(
        make_engine(settings.resolved_database_url), settings, utcnow(), force=True
    )
    for outcome in outcomes:
        mark = "ok" if outcome.ok else "[red]failed[/red]"
        console.print(f"{outcome.zone} {outcome.url}: {mark} {outcome.message}", highlight=False)
    if any(not outcome.ok for outcome in outcomes):
        raise typer.Exit(1)
