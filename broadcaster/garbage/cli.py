"""`broadcaster calendar …`: import (iCal, 5374, sorting dictionary), export and fetch garbage
calendars from the shell."""

from __future__ import annotations

# Lazy imports: commands import what they use when they run, so that `broadcaster
# --help` and each command start in a fraction of a second (issue 17).
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# Only typer at the top: `broadcaster --help` imports this module (see broadcaster.cli).
from broadcaster.command import ActorOption, ConfigOption, group, migrated_engine, operator

if TYPE_CHECKING:
    from rich.console import Console

calendar_app = group("Garbage-collection calendars.")

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
    actor: ActorOption = None,
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
        operator(actor),
        lambda session, settings, now, source, who: import_calendar(
            session,
            data,
            settings=settings,
            now=now,
            actor=who,
            source=source,
            zone=zone,
            dry_run=dry_run,
            strict=strict,
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
    actor: ActorOption = None,
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
        operator(actor),
        lambda session, settings, now, source, who: import_5374(
            session,
            files,
            settings=settings,
            now=now,
            actor=who,
            source=source,
            zone_column=zone_column,
            dry_run=dry_run,
            strict=strict,
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
    actor: ActorOption = None,
    config: ConfigOption = None,
) -> None:
    """Replace the sorting dictionary residents search by sending an item's name."""
    from broadcaster.clock import utcnow
    from broadcaster.command import settings_or_exit
    from broadcaster.db import session_scope
    from broadcaster.garbage.days import CalendarError
    from broadcaster.garbage.sorting import import_dictionary

    console = _console()
    settings = settings_or_exit(config)
    engine = migrated_engine(settings)
    try:
        with session_scope(engine) as session:
            report = import_dictionary(
                session,
                file.read_bytes(),
                now=utcnow(),
                actor=operator(actor),
                source=f"dictionary:{file.name}",
                dry_run=dry_run,
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


def _console() -> Console:
    from rich.console import Console

    # soft_wrap: a report line stays one line in a log or a pipe, whatever the width.
    return Console(stderr=True, soft_wrap=True)


def _run_import(
    source: str,
    zone: str | None,
    dry_run: bool,
    config: Path | None,
    who: str,
    run: Callable[..., object],
) -> None:
    """Run one import in a transaction as operator `who`; a refusal is recorded (unless
    dry) and exits 1."""
    from broadcaster.clock import utcnow
    from broadcaster.command import settings_or_exit
    from broadcaster.db import session_scope
    from broadcaster.garbage.days import CalendarError
    from broadcaster.garbage.importer import ImportResult, record_refusal
    from broadcaster.garbage.reminders import garbage_department

    console = _console()
    settings = settings_or_exit(config)
    engine = migrated_engine(settings)
    now = utcnow()
    try:
        with session_scope(engine) as session:
            result = run(session, settings, now, source, who)
    except CalendarError as exc:
        if not dry_run:
            with session_scope(engine) as session:
                record_refusal(session, now=now, actor=who, source=source, zone=zone, error=exc)
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
    with session_scope(engine) as session:
        if garbage_department(session, settings) is None:
            name = settings.garbage.department
            console.print(
                f"[yellow]warning[/yellow] no reminders will go out: the garbage department "
                f"{name!r} (garbage.department) does not exist; create it with "
                f"`broadcaster department add {name}`",
                highlight=False,
            )
    if dry_run:
        console.print("dry run: nothing changed")
    json.dump(result.as_dict(), sys.stdout, ensure_ascii=False, indent=1)
    print()


@calendar_app.command("export")
def export_zone(zone: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Print a zone's future collection days as iCal."""
    from broadcaster.clock import utcnow
    from broadcaster.command import settings_or_exit
    from broadcaster.db import session_scope
    from broadcaster.garbage.export import export_calendar

    settings = settings_or_exit(config)
    with session_scope(migrated_engine(settings)) as session:
        sys.stdout.buffer.write(export_calendar(session, zone, settings, utcnow()))


@calendar_app.command("fetch")
def fetch(config: ConfigOption = None) -> None:
    """Fetch every configured source now (garbage.sources)."""
    from rich.console import Console

    from broadcaster.clock import utcnow
    from broadcaster.command import settings_or_exit
    from broadcaster.garbage.fetch import fetch_due

    console = Console(stderr=True)
    settings = settings_or_exit(config)
    outcomes = fetch_due(migrated_engine(settings), settings, utcnow(), force=True)
    for outcome in outcomes:
        mark = "ok" if outcome.ok else "[red]failed[/red]"
        console.print(f"{outcome.zone} {outcome.url}: {mark} {outcome.message}", highlight=False)
    if any(not outcome.ok for outcome in outcomes):
        raise typer.Exit(1)
