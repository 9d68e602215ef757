"""`broadcaster shelters ...`: the shelter registry from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from broadcaster.cli_settings import settings_or_exit
from broadcaster.clock import utcnow
from broadcaster.db import make_engine, session_scope
from broadcaster.emergency.shelters import (
    ShelterImportError,
    apply_rows,
    decode_csv,
    parse_shelter_csv,
)

shelters_app = typer.Typer(no_args_is_help=True, help="Shelters (指定緊急避難場所).")
console = Console(stderr=True)


@shelters_app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(help="指定緊急避難場所 CSV (UTF-8 or Shift_JIS)")],
    config: Annotated[Path | None, typer.Option("--config", help="config.toml to read")] = None,
) -> None:
    """Check every row, then add or update the shelters (nothing changes if a row is wrong)."""
    settings = settings_or_exit(config)
    try:
        rows = parse_shelter_csv(
            decode_csv(file.read_bytes()),
            districts=settings.residents.districts,
            district_column=settings.emergency.shelter_district_column,
            district_values=settings.emergency.shelter_district_values,
        )
    except OSError as exc:
        console.print(f"[red]error:[/red] cannot read {file}: {exc.strerror}", highlight=False)
        raise typer.Exit(1) from None
    except ShelterImportError as exc:
        for problem in exc.problems:
            console.print(f"[red]error:[/red] {file}: {problem}", highlight=False)
        console.print("nothing was imported", highlight=False)
        raise typer.Exit(1) from None
    with session_scope(make_engine(settings.resolved_database_url)) as session:
        result = apply_rows(session, rows, utcnow())
    console.print(f"shelters: {result.created} added, {result.updated} updated", highlight=False)
