"""`broadcaster staff ...`: staff accounts from the command line.

The first admin account of a new installation can only be made here (the console's admin
page makes the others). A new account's password is typed at a hidden prompt or read from
standard input (`--password-stdin`, for provisioning scripts), never given as an argument,
where it would stay in the shell's history and the process list.
"""

from __future__ import annotations

# Lazy imports: commands import what they use when they run, so that `broadcaster
# --help` and each command start in a fraction of a second (issue 17).
import sys
from pathlib import Path
from typing import Annotated

import typer

from broadcaster.command import ActorOption, fail, group, migrated_engine, operator

staff_app = group("Staff accounts for the console (people, not scripts).")
ConfigOption = Annotated[Path | None, typer.Option("--config", help="config.toml to read")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input")
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt("password", hide_input=True)
    if typer.prompt("again", hide_input=True) != first:
        fail("the two passwords differ")
    return str(first)


@staff_app.command("add")
def add(
    login: Annotated[str, typer.Argument(help="sign-in name, e.g. yamada.hanako")],
    name: Annotated[str, typer.Option("--name", help="the person's name, e.g. 山田 花子")],
    department: Annotated[str, typer.Option("--department", help="e.g. 子育て支援課")],
    password_stdin: PasswordStdin = False,
    actor: ActorOption = None,
    config: ConfigOption = None,
) -> None:
    """Create an account in a department (it acts with that department's role)."""
    from sqlmodel import select

    from broadcaster.catalog import detail_text
    from broadcaster.clock import utcnow
    from broadcaster.command import settings_or_exit
    from broadcaster.db import session_scope
    from broadcaster.departments import Department
    from broadcaster.errors import DomainError
    from broadcaster.staff import add_account

    settings = settings_or_exit(config)
    engine = migrated_engine(settings)
    password = _password(password_stdin)
    now = utcnow()
    try:
        with session_scope(engine) as session:
            found = session.exec(select(Department).where(Department.name == department)).first()
            if found is None:
                fail(f"no department named {department!r} (see `broadcaster department add`)")
            account = add_account(session, found, login, name, password, operator(actor), now)
    except DomainError as exc:
        fail(detail_text(exc, "en"))
    typer.echo(f"account {account.login} ({account.name}, {found.name}) created", err=True)


@staff_app.command("reset-password")
def reset_password(
    login: Annotated[str, typer.Argument(help="the account's sign-in name")],
    actor: ActorOption = None,
    config: ConfigOption = None,
) -> None:
    """Give the account a one-time password (printed once) and end its sessions; the
    person chooses their own at the next sign-in."""
    from sqlmodel import select

    from broadcaster.clock import utcnow
    from broadcaster.command import settings_or_exit
    from broadcaster.db import session_scope
    from broadcaster.staff import StaffAccount
    from broadcaster.staff import reset_password as reset

    settings = settings_or_exit(config)
    engine = migrated_engine(settings)
    now = utcnow()
    with session_scope(engine) as session:
        account = session.exec(select(StaffAccount).where(StaffAccount.login == login)).first()
        if account is None:
            fail(f"no account {login!r}")
        temporary = reset(session, account, operator(actor), now)
    typer.echo(f"one-time password for {login}, shown once:", err=True)
    print(temporary)


@staff_app.command("list")
def list_accounts(config: ConfigOption = None) -> None:
    """Every account: sign-in name, name, department, last sign-in (Asia/Tokyo)."""
    from rich.console import Console
    from rich.table import Table
    from sqlmodel import Session, col, select

    from broadcaster.clock import local
    from broadcaster.command import settings_or_exit
    from broadcaster.departments import Department
    from broadcaster.staff import StaffAccount

    settings = settings_or_exit(config)
    engine = migrated_engine(settings)
    table = Table("login", "name", "department", "last sign-in", "state")
    with Session(engine) as session:
        rows = session.exec(
            select(StaffAccount, Department.name)
            .join(Department, col(Department.id) == StaffAccount.department_id)
            .order_by(col(StaffAccount.login))
        ).all()
        for account, department in rows:
            last = account.last_sign_in_at
            table.add_row(
                account.login,
                account.name,
                department,
                local(last, settings.tz).strftime("%Y-%m-%d %H:%M") if last else "-",
                "disabled" if account.disabled_at else "active",
            )
    Console().print(table)
