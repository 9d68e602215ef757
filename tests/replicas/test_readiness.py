"""`/readyz`: what a load balancer asks before sending a replica traffic."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from broadcaster.app import create_app
from broadcaster.db import make_engine
from broadcaster.migrate import upgrade
from tests.conftest import make_settings


def test_ready_on_a_current_schema(tmp_path: Path, engine: Engine) -> None:
    app = create_app(make_settings(tmp_path), engine=engine, background=False)
    with TestClient(app) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok", "schema": "current"}


def test_unready_while_a_migration_is_pending_and_nothing_is_changed(tmp_path: Path) -> None:
    behind = make_engine(f"sqlite:///{tmp_path / 'behind.db'}")
    upgrade(behind, "kpis")  # short of this code's head (revisions after kpis exist)
    app = create_app(make_settings(tmp_path), engine=behind, background=False)
    client = TestClient(app)  # not entered: the lifespan would refuse the schema
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["schema"].endswith("migration(s) pending")
    with behind.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() \
            == "kpis"
    behind.dispose()
