"""`broadcaster demo`: one command from an empty database to a living console."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from broadcaster.audit import AuditEntry
from broadcaster.broadcasts import Broadcast
from broadcaster.cli import app
from broadcaster.departments import find_by_token
from broadcaster.emergency.shelters import Shelter
from broadcaster.garbage.models import CollectionDay
from segments.residents import Resident, ResidentInterest
from tests.conftest import REPO


def env(tmp_path: Path) -> dict[str, str]:
    return {"BROADCASTER_CONFIG": str(REPO / "config.toml"), "BROADCASTER_DATA_DIR": str(tmp_path)}


def test_demo_fills_every_district_language_and_interest_and_prints_sign_ins(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env(tmp_path)).exit_code == 0
    result = runner.invoke(app, ["demo", "--actor", "tester"], env=env(tmp_path))
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'broadcaster.db'}")
    with Session(engine) as session:
        residents = session.exec(select(Resident)).all()
        assert {(r.district, r.language) for r in residents} == {
            (d, lang)
            for d in ("中央", "北", "南", "東", "西", "山間")
            for lang in ("ja", "easy-ja", "en", "zh", "ko", "vi", "pt")
        }
        interests = set(session.exec(select(ResidentInterest.interest)).all())
        assert interests == {"子育て", "防災", "健康・福祉", "イベント", "観光", "農林水産"}
        zones = set(session.exec(select(CollectionDay.zone)).all())
        assert zones == {"A", "B", "C", "D"}
        assert len(session.exec(select(Shelter)).all()) == 12
        assert len(session.exec(select(Broadcast)).all()) == 3
        tokens = [line.split(": ")[1] for line in result.output.splitlines()
                  if line.startswith("  ") and "bct_" in line]
        assert len(tokens) == 4
        names = {found[0].name for t in tokens if (found := find_by_token(session, t))}
        assert names == {"情報政策課", "危機管理課", "子育て支援課", "環境課"}
        actors = set(session.exec(select(AuditEntry.actor)).all())
        assert "tester (command line)" in actors


def test_demo_refuses_a_database_with_residents_and_changes_nothing(
    tmp_path: Path, engine: Engine
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env(tmp_path)).exit_code == 0
    assert runner.invoke(app, ["demo"], env=env(tmp_path)).exit_code == 0
    db = sa.create_engine(f"sqlite:///{tmp_path / 'broadcaster.db'}")
    with Session(db) as session:
        before = session.exec(select(sa.func.count()).select_from(AuditEntry)).one()
    again = runner.invoke(app, ["demo"], env=env(tmp_path))
    assert again.exit_code == 1 and "already has residents" in again.output
    with Session(db) as session:
        assert session.exec(select(sa.func.count()).select_from(AuditEntry)).one() == before
