import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from broadcaster.app import UnmigratedDatabase, create_app
from broadcaster.db import SCHEMA_HEAD, make_engine, pending_migrations
from broadcaster.migrate import alembic_config, upgrade
from broadcaster.models import metadata
from tests.conftest import make_settings


def test_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == [], "models changed without a migration: run alembic revision --autogenerate"


@pytest.mark.postgres
def test_migrations_build_exactly_the_models_on_postgres(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert diff == []


def test_the_schema_head_is_alembics_head(tmp_path: Path) -> None:
    """`db.SCHEMA_HEAD` answers "is the schema current?" without Alembic: a new migration
    must move it, or a service would call its current schema behind (and one a migration
    behind, current)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    script = ScriptDirectory.from_config(alembic_config(engine))
    assert script.get_heads() == [SCHEMA_HEAD]


def test_a_current_database_is_told_without_loading_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(make_engine(url))
    probe = (
        "import sys\n"
        "from broadcaster.db import make_engine, pending_migrations\n"
        f"assert pending_migrations(make_engine({url!r})) == []\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, timeout=120)
    assert loaded.stdout.strip() == "[]", loaded.stdout


def test_service_refuses_an_unmigrated_database_and_names_the_fix(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    engine = make_engine(settings.resolved_database_url)
    app = create_app(settings, engine=engine, background=False)
    with pytest.raises(UnmigratedDatabase, match="broadcaster db upgrade"), TestClient(app):
        pass
    assert pending_migrations(engine)


def test_auto_migrate_brings_the_schema_up_at_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auto_migrate=True)
    engine = make_engine(settings.resolved_database_url)
    with TestClient(create_app(settings, engine=engine, background=False)) as client:
        assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    assert pending_migrations(engine) == []


def test_healthz_checks_the_database(app_client: TestClient, engine: Engine) -> None:
    assert app_client.get("/healthz").status_code == 200
    engine.dispose()
    engine.url.database and Path(engine.url.database).unlink()
    Path(str(engine.url.database)).mkdir()  # a directory where the file was: unusable
    assert app_client.get("/healthz").status_code == 503


def test_openapi_is_served_at_docs(app_client: TestClient) -> None:
    assert app_client.get("/docs").status_code == 200
    assert "/healthz" in app_client.get("/openapi.json").json()["paths"]
