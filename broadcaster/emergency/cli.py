"""`broadcaster shelters ...`: the shelter registry from the command line."""

from __future__ import annotations

# Lazy imports: commands import what they use when they run, so that `broadcaster
# --help` and each command start in a fraction of a second (issue 17).
from pathlib import Path
from typing import Annotated

import typer

# Only typer at the top: `broadcaster --help` imports this module (see broadcaster.cli).
from broadcaster.command import ActorOption, group, migrated_engine, operator

shelters_app = group("Shelters (指定緊急避難場所).")


@shelters_app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(help="指定緊急避難場所 CSV (UTF-8 or Shift_JIS)")],
    actor: ActorOption = None,
    config: Annotated[Path | None, typer.Option("--config", help="config.toml to read")] = None,
) -> None:
    """Check every row, then add or update the shelters (nothing changes if a row is wrong)."""
    from rich.console import Console

    from broadcaster import audit
    from broadcaster.clock import utcnow
    from broadcaster.command import settings_or_exit
    from broadcaster.db import session_scope
    from broadcaster.emergency.shelters import (
        ShelterImportError,
        apply_rows,
        decode_csv,
        parse_shelter_csv,
    )

    console = Console(stderr=True)

    settings = settings_or_exit(config)
    engine = migrated_engine(settings)
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
    now = utcnow()
    with session_scope(engine) as session:
        result = apply_rows(session, rows, now)
        audit.record(
            session,
            at=now,
            actor=operator(actor),
            action="shelter.import",
            entity="shelter",
            after={"file": file.name, "created": result.created, "updated": result.updated},
        )
    console.print(f"shelters: {result.created} added, {result.updated} updated", highlight=False)
