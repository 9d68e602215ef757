"""Fixtures for refusals: table counts (to show a refusal wrote nothing) and a served app."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from broadcaster.models import metadata
from broadcaster.settings import Settings
from tests.webhook.conftest import ServedApp


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table: equal before and after a refusal means nothing was written."""
    with engine.connect() as connection:
        return {
            table.name: int(
                connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            )
            for table in metadata.sorted_tables
        }


@pytest.fixture
def counts(engine: Engine) -> Callable[[], dict[str, int]]:
    return lambda: table_counts(engine)


@pytest.fixture
def served(settings: Settings, engine: Engine) -> Iterator[ServedApp]:
    app = ServedApp(settings, engine).start()
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def client(app_client):  # the broadcasts tests' name for the API client
    return app_client
