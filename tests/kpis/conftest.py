"""KPI fixtures: the webhook's sandbox and served app (for signed events), settings that
deliver to that sandbox, and sending a broadcast to residents at a frozen time."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.departments import Department
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.settings import Settings
from segments.residents import Resident
from tests.clock import freeze_time
from tests.conftest import make_settings
from tests.delivery.scenario import deliver_all, dispatch_now, new_broadcast, text_plan
from tests.webhook.conftest import (  # noqa: F401  (fixtures shared with the webhook tests)
    ServedApp,
    app,
    make_user,
    serve,
    webhook_sandbox,
)
from tests.webhook.conftest import sandbox as sandbox

Send = Callable[..., int]


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    """Every KPI test on SQLite, and on PostgreSQL too when a URL is given."""
    return any_engine


@pytest.fixture
def kpi_overrides() -> dict[str, Any]:
    """Extra settings for a test (override the fixture, or parametrize it)."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, kpi_overrides: dict[str, Any]) -> Settings:
    """The API's settings (app_client): quiet hours off, so a test's "now" may be any hour."""
    return make_settings(tmp_path, **{"quiet_hours.enabled": False, **kpi_overrides})


@pytest.fixture
def line_settings(
    tmp_path: Path, sandbox: SandboxThread, kpi_overrides: dict[str, Any]
) -> Settings:
    return make_settings(
        tmp_path,
        **{
            "line.api_base_url": sandbox.url,
            "line.channel_access_token": sandbox.config.channel_access_token,
            "line.channel_secret": sandbox.config.channel_secret,
            "line.request_timeout_seconds": 5.0,
            "line.backoff_base_seconds": 0.01,
            "line.backoff_max_seconds": 0.05,
            "quiet_hours.enabled": False,
            "frequency.max_per_day": 100,
            "frequency.max_per_week": 100,
            **kpi_overrides,
        },
    )


@pytest.fixture
def send(engine: Engine, line_settings: Settings, tokens: dict[str, str]) -> Send:
    """Send a text broadcast of `department` at `at` (frozen; default now, not frozen) to
    `residents` (ids; default every following resident), through the outbox and worker to
    the sandbox."""

    def run(department: str, at: datetime | None = None, residents: list[int] | None = None,
            **fields: Any) -> int:
        with Session(engine) as session:
            dept = session.exec(select(Department).where(Department.name == department)).one()
        audience = None if residents is None else Resident.id.in_(residents)  # type: ignore[union-attr]
        with freeze_time(at) if at is not None else contextlib.nullcontext():
            when = at or datetime.now(UTC)
            broadcast = new_broadcast(
                engine, department_id=dept.id, send_at=when, created_at=when, updated_at=when,
                title=fields.pop("title", f"{department}のお知らせ"), **fields,
            )
            assert broadcast.id is not None
            dispatch_now(engine, broadcast.id, text_plan(audience=audience), now=when)
            deliver_all(engine, line_settings)
        return broadcast.id

    return run
