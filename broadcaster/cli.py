"""The `broadcaster` command: serve, sandbox, migrations, departments, imports, operations.

Only typer is imported at the top: `broadcaster --help` must answer in well under a second
on a loaded machine, and SQLAlchemy, Alembic, pydantic and FastAPI together take over a
second to import. Each command imports what it uses.
"""

from __future__ import annotations

# Lazy imports: commands import what they use when they run, so that `broadcaster
# --help` and each command start in a fraction of a second (issue 17).
import sys
from typing import Annotated

import typer

from broadcaster.command import (
    ActorOption,
    ConfigOption,
    fail,
    group,
    migrated_engine,
    operator,
    settings_or_exit,
)
from broadcaster.emergency.cli import shelters_app
from broadcaster.garbage.cli import calendar_app
from broadcaster.ops_cli import register as register_operations
from broadcaster.sandbox.cli import sandbox_app
from broadcaster.staff_cli import staff_app
from segments.cli import residents_app

app = group("LINE announcements for a city's residents.")
db_app = group("Database schema and backups.")
department_app = group("Departments and their API tokens.")
app.add_typer(db_app, name="db")
app.add_typer(department_app, name="department")
app.add_typer(calendar_app, name="calendar")
app.add_typer(residents_app, name="residents")
app.add_typer(shelters_app, name="shelters")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(staff_app, name="staff")
register_operations(app, db_app)

__all__ = ["app", "main", "settings_or_exit"]


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Run the service (API, webhook, console, scheduler, senders)."""
    # Imported when the service starts, not for every command: it loads the whole app.
    from broadcaster.serve import run

    sys.exit(run(settings_or_exit(config)))


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply every pending migration and say which (or that there were none)."""
    from sqlalchemy.pool import NullPool

    from broadcaster.db import make_engine
    from broadcaster.migrate import upgrade_and_report

    settings = settings_or_exit(config)
    engine = make_engine(settings.resolved_database_url, poolclass=NullPool)
    for line in upgrade_and_report(engine):
        typer.echo(line, err=True)


@department_app.command("add")
def department_add(
    name: Annotated[str, typer.Argument(help="e.g. 子育て支援課")],
    role: Annotated[
        str, typer.Option(help="department | disaster_desk | admin")
    ] = "department",
    actor: ActorOption = None,
    config: ConfigOption = None,
) -> None:
    """Create a department and print its API token once (it is stored only as a hash)."""
    from broadcaster import audit
    from broadcaster.clock import utcnow
    from broadcaster.db import session_scope
    from broadcaster.departments import Role, create_department

    try:
        chosen = Role(role)
    except ValueError:
        fail(f"--role: {role!r} is not one of {', '.join(r.value for r in Role)}", 2)
    settings = settings_or_exit(config)
    engine = migrated_engine(settings)
    now = utcnow()
    try:
        with session_scope(engine) as session:
            department, token = create_department(session, name, chosen, now)
            audit.record(
                session,
                at=now,
                actor=operator(actor),
                action="department.create",
                entity="department",
                entity_id=department.id,
                after={"name": department.name, "role": department.role},
            )
    except ValueError as exc:
        fail(str(exc))
    typer.echo(
        f"department {department.name} ({chosen.value}) created; its API token, shown once:",
        err=True,
    )
    print(token)


def main() -> None:
    args = sys.argv[1:]
    if args and not {"--help", "-h"} & set(args):
        # Commands create, edit and cancel broadcasts (calendar import, shelters): every
        # kind must plan and check as it does in the service. Help needs none of it.
        from broadcaster.features import register_features

        register_features()
    app()
