from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from broadcaster.cli import app
from broadcaster.db import make_engine
from broadcaster.departments import ApiToken, hash_token
from tests.conftest import REPO


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"BROADCASTER_CONFIG": str(REPO / "config.toml"), "BROADCASTER_DATA_DIR": str(tmp_path)}


def test_a_bad_setting_stops_the_command_with_one_line_naming_it(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["serve"], env={**env, "BROADCASTER_SERVER_PORT": "http"})
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "server.port (from BROADCASTER_SERVER_PORT)" in lines[0]
    assert "Traceback" not in result.output


def test_department_add_prints_the_token_once_and_stores_only_its_hash(
    env: dict[str, str], tmp_path: Path
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    added = runner.invoke(
        app, ["department", "add", "危機管理課", "--role", "disaster_desk"], env=env
    )
    assert added.exit_code == 0, added.output
    token = added.output.strip().splitlines()[-1]
    assert token.startswith("bct_")
    with Session(make_engine(f"sqlite:///{tmp_path / 'broadcaster.db'}")) as session:
        stored = session.exec(select(ApiToken)).one()
    assert stored.token_hash == hash_token(token) and token not in stored.token_hash
    again = runner.invoke(app, ["department", "add", "危機管理課"], env=env)
    assert again.exit_code == 1 and "already exists" in again.output
