"""The command line as an operator meets it: fast help, one-line errors, audited changes."""

from __future__ import annotations

import re
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from broadcaster.audit import AuditEntry
from broadcaster.cli import app
from broadcaster.db import make_engine
from broadcaster.sandbox.testing import free_port
from tests.conftest import REPO

HELP_BUDGET_SECONDS = 0.3


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"BROADCASTER_CONFIG": str(REPO / "config.toml"), "BROADCASTER_DATA_DIR": str(tmp_path)}


def audit_entries(tmp_path: Path) -> list[AuditEntry]:
    with Session(make_engine(f"sqlite:///{tmp_path / 'broadcaster.db'}")) as session:
        return list(session.exec(select(AuditEntry).order_by(AuditEntry.id)).all())


def test_help_imports_no_database_or_web_library() -> None:
    """What keeps --help fast: the heavy libraries load only when a command runs."""
    probe = (
        "import sys, broadcaster.cli as c\n"
        "heavy = [m for m in ('sqlalchemy', 'alembic', 'fastapi', 'pydantic', 'linebot', 'rich')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_help_answers_within_its_budget() -> None:
    """CPU time, not wall time: on a shared 2-core machine a neighbour's load can double the
    wall time of any process, but not the work this one does. Best of three."""
    timings = []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [sys.executable, "-m", "broadcaster", "--help"], capture_output=True, check=True
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        timings.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    assert min(timings) <= HELP_BUDGET_SECONDS, timings


@pytest.mark.parametrize(
    "command",
    [
        ["department", "add", "環境課"],
        ["calendar", "export", "A"],
        ["shelters", "import", str(REPO / "config.toml")],
    ],
)
def test_a_command_on_an_unmigrated_database_names_the_fix_in_one_line(
    env: dict[str, str], command: list[str]
) -> None:
    result = CliRunner().invoke(app, command, env=env)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    assert any("run `broadcaster db upgrade`" in line for line in lines), result.output
    assert len(lines) == 1, result.output


def test_db_upgrade_says_it_created_the_database_then_that_it_is_current(
    env: dict[str, str], tmp_path: Path
) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["db", "upgrade"], env=env)
    assert first.exit_code == 0, first.output
    assert "created a new database" in first.output
    assert re.search(r"applied \d+ migration\(s\)", first.output) and "0001" in first.output
    second = runner.invoke(app, ["db", "upgrade"], env=env)
    assert second.exit_code == 0
    assert "up to date" in second.output and "created" not in second.output


def test_department_add_is_audited_with_the_operators_name(
    env: dict[str, str], tmp_path: Path
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    added = runner.invoke(app, ["department", "add", "環境課", "--actor", "山田"], env=env)
    assert added.exit_code == 0, added.output
    [entry] = audit_entries(tmp_path)
    assert entry.action == "department.create"
    assert entry.actor == "山田 (command line)"
    assert entry.after == {"name": "環境課", "role": "department"}


def test_shelter_import_is_audited_and_a_bad_file_writes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("名称,住所\n", encoding="utf-8")
    refused = runner.invoke(app, ["shelters", "import", str(bad), "--actor", "佐藤"], env=env)
    assert refused.exit_code == 1
    assert audit_entries(tmp_path) == []


def test_a_role_that_does_not_exist_is_refused_and_nothing_is_written(
    env: dict[str, str], tmp_path: Path
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    result = runner.invoke(app, ["department", "add", "環境課", "--role", "mayor"], env=env)
    assert result.exit_code == 2 and "--role" in result.output
    assert audit_entries(tmp_path) == []


def test_serve_refuses_a_taken_port_at_once_before_touching_the_database(
    tmp_path: Path,
) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "broadcaster", "serve"],
            env={
                "PATH": "/usr/bin:/bin",
                "BROADCASTER_CONFIG": str(REPO / "config.toml"),
                "BROADCASTER_DATA_DIR": str(tmp_path),
                "BROADCASTER_SERVER_PORT": str(port),
                "BROADCASTER_SANDBOX_PORT": str(free_port()),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert "server.port" in done.stderr and "Traceback" not in done.stderr
    assert elapsed < 10
    # Refused before anything started: not even the database file was created.
    assert not (tmp_path / "broadcaster.db").exists()
