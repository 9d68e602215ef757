"""Shared fixtures: settings, a fresh database per test (SQLite, or PostgreSQL when a URL
is given), the app, departments with tokens, and a small named cast of residents."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, select

from broadcaster.app import create_app
from broadcaster.db import make_engine
from broadcaster.departments import Department, Role, create_department
from broadcaster.features import register_features
from broadcaster.migrate import alembic_config
from broadcaster.models import metadata
from broadcaster.settings import Settings, load_settings
from broadcaster.staff import StaffAccount, hash_password
from segments.residents import Resident, ResidentAttribute, ResidentInterest

REPO = Path(__file__).resolve().parents[1]
POSTGRES_ENV = "BROADCASTER_TEST_POSTGRES_URL"
NO_POSTGRES = (
    f"PostgreSQL tests need {POSTGRES_ENV} "
    "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test); `make test-postgres` on CI sets it"
)
T0 = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture(autouse=True, scope="session")
def features() -> None:
    """Every feature's policy, as the app, the CLI and the dispatch process register them."""
    register_features()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """The shipped config.toml, with the data directory in `tmp_path` and `overrides` applied
    (dotted keys, e.g. {"quiet_hours.enabled": False}). LINE is a closed port on this
    machine unless a test points it at a sandbox: no test ever reaches the real api.line.me."""
    return load_settings(
        REPO / "config.toml",
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "line.api_base_url": "http://127.0.0.1:9",
            **overrides,
        },
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def _create_schema(engine: Engine) -> None:
    metadata.create_all(engine)
    command.stamp(alembic_config(engine), "head")


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    _create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test, dropped afterwards."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(NO_POSTGRES)
    server = make_engine(base, isolation_level="AUTOCOMMIT")
    name = f"bc_test_{uuid.uuid4().hex[:12]}"
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    _create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    """Run the test on SQLite, and again on PostgreSQL when a URL is given."""
    name = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    engine: Engine = request.getfixturevalue(name)
    return engine


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def app_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The API with background work off: tests call the jobs themselves."""
    app = create_app(settings, engine=engine, background=False)
    with TestClient(app, headers={"Accept-Language": "en"}) as client:
        yield client


@pytest.fixture
def tokens(engine: Engine) -> dict[str, str]:
    """API tokens by department: 子育て支援課 and 環境課 (department), 危機管理課
    (disaster_desk), 情報政策課 (admin)."""
    cast = {
        "子育て支援課": Role.department,
        "環境課": Role.department,
        "危機管理課": Role.disaster_desk,
        "情報政策課": Role.admin,
    }
    issued: dict[str, str] = {}
    with Session(engine) as session:
        for name, role in cast.items():
            _, issued[name] = create_department(session, name, role, T0)
        session.commit()
    return issued


STAFF_PASSWORD = "correct horse battery"
# Staff accounts by sign-in name: (name, department). See `staff`.
STAFF = {
    "kosodate": ("山田 花子", "子育て支援課"),
    "kankyo": ("佐藤 一郎", "環境課"),
    "bosai": ("鈴木 次郎", "危機管理課"),
    "admin": ("高橋 美咲", "情報政策課"),
}


@pytest.fixture(scope="session")
def staff_password_hash() -> str:
    # Argon2 is slow on purpose (0.1-0.6 s here): hash the shared password once.
    return hash_password(STAFF_PASSWORD)


@pytest.fixture
def staff(engine: Engine, tokens: dict[str, str], staff_password_hash: str) -> dict[str, str]:
    """A console account in each of `tokens`' departments, all with STAFF_PASSWORD;
    returns sign-in name -> the person's name."""
    with Session(engine) as session:
        for login, (name, department_name) in STAFF.items():
            department = session.exec(
                select(Department).where(Department.name == department_name)
            ).one()
            assert department.id is not None
            session.add(
                StaffAccount(
                    department_id=department.id,
                    login=login,
                    name=name,
                    password_hash=staff_password_hash,
                    created_at=T0,
                )
            )
        session.commit()
    return {login: name for login, (name, _) in STAFF.items()}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def line_user_id(n: int) -> str:
    """A well-formed LINE user id (U + 32 hex digits) for resident number n."""
    return "U" + f"{n:032x}"


ResidentFactory = Callable[..., Resident]


@pytest.fixture
def make_resident(engine: Engine) -> ResidentFactory:
    """Create a following resident; keyword arguments set Resident fields, plus
    `interests=[...]` and `flags=[...]` (verified household flags)."""
    counter = iter(range(1, 10**9))

    def factory(
        *,
        interests: list[str] = (),
        flags: list[str] = (),
        **fields: Any,  # type: ignore[assignment]
    ) -> Resident:
        n = next(counter)
        values: dict[str, Any] = {
            "line_user_id": line_user_id(n),
            "followed_at": T0,
            "created_at": T0,
            "updated_at": T0,
            "district": "中央",
            "garbage_zone": "A",
            "language": "ja",
        }
        values.update(fields)
        with Session(engine, expire_on_commit=False) as session:
            resident = Resident(**values)
            session.add(resident)
            session.flush()
            assert resident.id is not None
            for interest in interests:
                session.add(ResidentInterest(resident_id=resident.id, interest=interest))
            for flag in flags:
                session.add(
                    ResidentAttribute(
                        resident_id=resident.id,
                        name=flag,
                        value="true",
                        verified_at=T0,
                        verified_by="test",
                    )
                )
            session.commit()
            return resident

    return factory


@pytest.fixture
def cast(make_resident: ResidentFactory) -> dict[str, Resident]:
    """A small named cast: a family in 中央, a senior in 山間, an English reader in 北."""
    return {
        "family": make_resident(
            district="中央",
            garbage_zone="A",
            interests=["子育て", "イベント"],
            flags=["子育て世帯"],
            birth_date=date(1988, 5, 3),
            birth_year=1988,
        ),
        "senior": make_resident(
            district="山間",
            garbage_zone="C",
            interests=["防災", "健康・福祉"],
            flags=["高齢者のみ世帯"],
            birth_date=date(1948, 9, 15),
            birth_year=1948,
        ),
        "english": make_resident(
            district="北", garbage_zone="B", language="en", interests=["観光"]
        ),
    }
