"""The `broadcaster` command: serve, sandbox, migrations, departments, imports."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from broadcaster.cli_settings import ConfigOption, console, settings_or_exit
from broadcaster.clock import utcnow
from broadcaster.db import make_engine, session_scope, upgrade
from broadcaster.departments import Role, create_department
from broadcaster.emergency.cli import shelters_app
from broadcaster.features import register_features
from broadcaster.garbage.cli import calendar_app
from segments.cli import residents_app

app = typer.Typer(no_args_is_help=True, help="LINE announcements for a city's residents.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
department_app = typer.Typer(no_args_is_help=True, help="Departments and their API tokens.")
app.add_typer(db_app, name="db")
app.add_typer(department_app, name="department")
app.add_typer(calendar_app, name="calendar")
app.add_typer(residents_app, name="residents")
app.add_typer(shelters_app, name="shelters")

@app.command()
def serve(config: ConfigOption = None) -> None:
    """Run the service (API, webhook, console, scheduler, senders)."""
    # Imported when the service starts, not for every command: it loads the whole app.
    from broadcaster.serve import run

    settings = settings_or_exit(config)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sys.exit(run(settings, console))


@app.command()
def sandbox(
    port: Annotated[int | None, typer.Option(help="port (default: sandbox.port)")] = None,
    latency_ms: Annotated[int | None, typer.Option(help="ms added to every response")] = None,
    webhook_url: Annotated[str | None, typer.Option(help="where to send webhook events")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the LINE sandbox alone: a local Messaging API that records what residents got."""
    # Imported when the sandbox starts, not for every command: it loads the whole app.
    from broadcaster.sandbox.runner import run as run_sandbox
    from broadcaster.serve import sandbox_config

    settings = settings_or_exit(config)
    sandbox_settings = settings.sandbox
    cfg = sandbox_config(settings, latency_ms=latency_ms, webhook_url=webhook_url)
    where = f"http://{sandbox_settings.host}:{port or sandbox_settings.port}"
    console.print(
        f"LINE sandbox on {where}; what each user received: POST {where}/_sandbox/deliveries"
    )
    run_sandbox(cfg, sandbox_settings.host, port or sandbox_settings.port)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply every pending migration."""
    settings = settings_or_exit(config)
    upgrade(make_engine(settings.resolved_database_url))
    console.print("database is up to date")


@department_app.command("add")
def department_add(
    name: Annotated[str, typer.Argument(help="e.g. 子育て支援課")],
    role: Annotated[
        Role, typer.Option(help="department | disaster_desk | admin")
    ] = Role.department,
    config: ConfigOption = None,
) -> None:
    """Create a department and print its API token once (it is stored only as a hash)."""
    settings = settings_or_exit(config)
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(engine) as session:
            department, token = create_department(session, name, role, utcnow())
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"department {department.name} ({role.value}) created; its API token, shown once:"
    )
    print(token)


def main() -> None:
    # Commands create, edit and cancel broadcasts (calendar import, shelters): every kind
    # must plan and check the same way it does in the service.
    register_features()
    app()
