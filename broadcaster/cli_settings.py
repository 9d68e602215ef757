"""Settings for a command: the `--config` option and loading it, or exiting with the reason.

Shared by `broadcaster.cli` and the commands features add to it (calendar, residents,
shelters); its own module so that those can import it while the CLI imports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from broadcaster.settings import Settings, SettingsError, load_settings

console = Console(stderr=True)
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="config.toml to read (default: ./config.toml)")
]


def settings_or_exit(config: Path | None) -> Settings:
    """Settings, or one line naming the bad key and exit code 2."""
    try:
        return load_settings(config)
    except SettingsError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
