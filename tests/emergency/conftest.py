"""Emergency fixtures: a sandbox per module, the API pointed at it, a worker run to idle,
shelters, and small alert documents."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.app import create_app
from broadcaster.delivery.worker import DeliveryWorker
from broadcaster.emergency.shelters import Shelter
from broadcaster.sandbox import SandboxConfig
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.settings import Settings
from tests.conftest import T0
from tests.delivery.scenario import line_settings


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[SandboxThread]:
    """One per test process; each test starts from a reset sandbox."""
    with SandboxThread(SandboxConfig()) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(shared_sandbox: SandboxThread) -> SandboxThread:
    shared_sandbox.reset()
    shared_sandbox.clear_faults()
    return shared_sandbox


@pytest.fixture
def line_app_settings(tmp_path: Path, sandbox: SandboxThread) -> Settings:
    return line_settings(tmp_path, sandbox.url)


@pytest.fixture
def client(line_app_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The API delivering to the sandbox (background off: tests run the worker)."""
    app = create_app(line_app_settings, engine=engine, background=False)
    with TestClient(app, headers={"Accept-Language": "en"}) as test_client:
        yield test_client


@pytest.fixture
def deliver(engine: Engine, line_app_settings: Settings) -> Callable[[], None]:
    """Run a delivery worker until every pending batch is sent."""

    async def run() -> None:
        worker = DeliveryWorker(engine, line_app_settings, poll_interval=0.02)
        await worker.start()
        try:
            await worker.wait_idle(timeout=20)
        finally:
            await worker.stop()
            # Let aiohttp's connector close its sockets before the loop goes away.
            await asyncio.sleep(0.05)

    return lambda: asyncio.run(run())


@pytest.fixture
def make_shelter(engine: Engine) -> Callable[..., Shelter]:
    def factory(
        name: str,
        district: str = "中央",
        *,
        kinds: tuple[str, ...] = ("洪水",),
        is_open: bool = True,
        **fields: Any,
    ) -> Shelter:
        values: dict[str, Any] = {
            "name": name,
            "address": f"{district}1-1",
            "district": district,
            "latitude": 35.0,
            "longitude": 139.0,
            "kinds": list(kinds),
            "is_open": is_open,
            "opened_at": T0 if is_open else None,
            "created_at": T0,
            "updated_at": T0,
        }
        values.update(fields)
        with Session(engine, expire_on_commit=False) as session:
            shelter = Shelter(**values)
            session.add(shelter)
            session.commit()
            return shelter

    return factory


def received(sandbox: SandboxThread, user_id: str) -> list[list[dict[str, Any]]]:
    """The message lists a user received, oldest first."""
    return [d["messages"] for d in sandbox.deliveries(user_id)]
