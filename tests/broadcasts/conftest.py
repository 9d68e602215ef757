"""Fixtures for broadcasts: the API with a renderer, times in Tokyo, request helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.app import create_app
from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_requests import BroadcastRequest
from broadcaster.broadcasts import Broadcast
from broadcaster.departments import Department
from broadcaster.render import Renderer
from broadcaster.settings import Settings

TOKYO = ZoneInfo("Asia/Tokyo")


def jst(*args: int) -> datetime:
    """An aware Asia/Tokyo datetime: jst(2026, 5, 1, 10)."""
    return datetime(*args, tzinfo=TOKYO)  # type: ignore[misc]


@pytest.fixture
def renderer(settings: Settings) -> Renderer:
    return Renderer.from_settings(settings)


@pytest.fixture
def client(settings: Settings, engine: Engine, renderer: Renderer) -> Iterator[TestClient]:
    """The API with background work off (tests run the scheduler's functions themselves)."""
    app = create_app(settings, engine=engine, background=False)
    app.state.renderer = renderer
    with TestClient(app, headers={"Accept-Language": "en"}) as test_client:
        yield test_client


def notice(**overrides: Any) -> dict[str, Any]:
    """A valid create body: an inline template to everyone at 10:00 JST on 2026-05-01."""
    body: dict[str, Any] = {
        "title": "子育て広場のお知らせ",
        "category": "childcare",
        "template_text": "{{ resident.district }}地区の子育て広場は{{ day }}に開きます。",
        "parameters": {"day": "5月10日"},
        "send_at": "2026-05-01T10:00:00",
    }
    body.update(overrides)
    return body


@pytest.fixture
def rows(engine: Engine) -> Callable[[], list[Broadcast]]:
    """All broadcast rows, by id (read fresh each call)."""

    def read() -> list[Broadcast]:
        with Session(engine) as session:
            return list(session.exec(select(Broadcast).order_by(Broadcast.id)))  # type: ignore[arg-type]

    return read


@pytest.fixture
def department_id(engine, tokens) -> int:
    with Session(engine) as session:
        department = session.exec(select(Department).where(Department.name == "環境課")).one()
        assert department.id is not None
        return department.id


@pytest.fixture
def schedule(engine, settings, renderer, department_id):
    """schedule(send_at, **request fields) -> broadcast id, created at T."""

    def create(send_at, now=T0, **fields) -> int:
        values = {"title": "お知らせ", "category": "general", "template_text": "お知らせです"}
        values.update(fields)
        with Session(engine, expire_on_commit=False) as session:
            broadcast = create_broadcast(
                session,
                "test",
                department_id,
                BroadcastRequest(send_at=send_at, **values),
                settings,
                renderer,
                now,
            )
            session.commit()
            assert broadcast.id is not None
            return broadcast.id

    return create


T0 = datetime(2026, 5, 1, 9, tzinfo=TOKYO)
