"""Delivery fixtures: a sandbox per module, settings pointing at it, bulk residents and
broadcasts. Helpers shared with the crash script and the benchmark live in
tests/delivery/scenario.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcaster.batches import Batch
from broadcaster.broadcasts import Broadcast
from broadcaster.sandbox import SandboxConfig
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.settings import Settings
from tests.delivery.scenario import add_residents, line_settings, new_broadcast


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig()) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(shared_sandbox: SandboxThread) -> SandboxThread:
    shared_sandbox.reset()
    shared_sandbox.clear_faults()
    return shared_sandbox


@pytest.fixture
def delivery_settings(tmp_path: Path, sandbox: SandboxThread) -> Settings:
    return line_settings(tmp_path, sandbox.url)


@pytest.fixture
def residents(engine: Engine) -> Callable[..., list[int]]:
    def make(count: int, **fields: Any) -> list[int]:
        return add_residents(engine, count, **fields)

    return make


@pytest.fixture
def broadcast(engine: Engine) -> Callable[..., Broadcast]:
    def make(**fields: Any) -> Broadcast:
        return new_broadcast(engine, **fields)

    return make


@pytest.fixture
def batches(engine: Engine) -> Callable[[int], list[Batch]]:
    """A broadcast's batches, in id order, as stored now."""

    def read(broadcast_id: int) -> list[Batch]:
        with Session(engine) as session:
            return list(session.exec(
                select(Batch).where(Batch.broadcast_id == broadcast_id).order_by(col(Batch.id))
            ).all())

    return read
