"""The API against its own OpenAPI document (schemathesis): with an admin's and a
department's token, no generated request may earn a 5xx or an answer the document does
not describe. Bounded (a few examples per operation, derandomized) to fit in `make test`.

The server is real (uvicorn on a free port) and shared by the module, so state built by
one operation (a broadcast, a segment) is there for the next, as in use.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import Session

from broadcaster.app import create_app
from broadcaster.db import make_engine
from broadcaster.departments import Role, create_department
from broadcaster.sandbox import SandboxConfig
from broadcaster.sandbox.testing import SandboxThread
from tests.conftest import T0, _create_schema, make_settings
from tests.webhook.conftest import ServedApp

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 6
ROLES = {"情報政策課": Role.admin, "子育て支援課": Role.department}


def _document() -> dict[str, Any]:
    """The app's OpenAPI document (building it touches no database)."""
    with tempfile.TemporaryDirectory() as directory:
        return create_app(make_settings(Path(directory)), background=False).openapi()


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedApp, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("schemathesis")
    sandbox = SandboxThread(SandboxConfig(channel_secret="schemathesis-secret")).start()
    settings = make_settings(directory, **{
        "line.channel_secret": "schemathesis-secret",
        "line.channel_access_token": "sandbox-token",
        "line.api_base_url": sandbox.url,  # operations that call LINE (rich-menu sync) reach it
    })
    engine = make_engine(f"sqlite:///{directory / 'test.db'}")
    _create_schema(engine)
    with Session(engine) as session:
        issued = {
            name: create_department(session, name, role, T0)[1] for name, role in ROLES.items()
        }
        session.commit()
    served = ServedApp(settings, engine).start()
    try:
        yield served, issued
    finally:
        served.stop()
        engine.dispose()
        sandbox.stop()


HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@HYPOTHESIS
def test_as_an_admin(case: Any, server: tuple[ServedApp, dict[str, str]]) -> None:
    served, tokens = server
    case.call_and_validate(
        base_url=served.url,
        headers={"Authorization": f"Bearer {tokens['情報政策課']}"},
        checks=CHECKS,
    )


@schema.parametrize()
@HYPOTHESIS
def test_as_a_department(case: Any, server: tuple[ServedApp, dict[str, str]]) -> None:
    served, tokens = server
    case.call_and_validate(
        base_url=served.url,
        headers={"Authorization": f"Bearer {tokens['子育て支援課']}"},
        checks=CHECKS,
    )
