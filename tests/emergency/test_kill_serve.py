"""`broadcaster serve` killed (SIGKILL) while an evacuation order is going out, with LINE
losing some answers, then started again: the order resumes at once (its predecessor's
leases are taken back, not waited out) and every resident gets it exactly once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from broadcaster.batches import Batch
from broadcaster.clock import utcnow
from broadcaster.departments import Role, create_department
from broadcaster.sandbox import FaultConfig, SandboxConfig
from broadcaster.sandbox.testing import SandboxProcess, free_port
from tests.conftest import _create_schema, auth, make_settings
from tests.delivery.scenario import add_residents
from tests.serving import serve, stop

RESIDENTS = 6000  # 12 multicasts, at 4 a second: 3 s of sending to kill in


def _order_requests(engine: sa.engine.Engine, sandbox: SandboxProcess) -> list[dict]:
    with engine.connect() as connection:
        keys = set(connection.execute(sa.select(Batch.__table__.c.retry_key)).scalars())
    return [r for r in sandbox.requests() if r["retry_key"] in keys]


@pytest.mark.slow
def test_a_killed_service_resumes_an_order_at_once_and_nobody_gets_it_twice(
    tmp_path: Path,
) -> None:
    from broadcaster.db import make_engine

    settings = make_settings(tmp_path)
    engine = make_engine(settings.resolved_database_url)
    _create_schema(engine)
    add_residents(engine, RESIDENTS, district="北")
    with Session(engine) as session:
        _, token = create_department(session, "危機管理課", Role.disaster_desk, utcnow())
        session.commit()
    config = SandboxConfig(rate_limits={"multicast": 4.0},
                           faults=FaultConfig(lost_response=0.25))
    port = free_port()
    log = tmp_path / "serve.log"
    overrides = {"BROADCASTER_RATE_LIMITS_MULTICAST": "4", "BROADCASTER_SERVER_REPLICA_ID": "t1",
                 "BROADCASTER_LINE_REQUEST_TIMEOUT_SECONDS": "1"}
    with SandboxProcess(config) as sandbox:
        first = serve(tmp_path, port, sandbox.url, log, **overrides)
        try:
            answer = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/emergencies", headers=auth(token),
                json={"level": 4, "districts": ["北"], "kind": "洪水"}, timeout=30)
            assert answer.status_code == 201, answer.text
            deadline = time.monotonic() + 30
            while len(_order_requests(engine, sandbox)) < 3:
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.05)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=20)
        finally:
            stop(first)
        killed_at = time.time()
        second = serve(tmp_path, port, sandbox.url, log, **overrides)
        up_at = time.time()  # serving: the worker started before the API answered
        try:
            deadline = time.monotonic() + 60
            while not any(r["at"] > killed_at for r in _order_requests(engine, sandbox)):
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.05)
            resumed_after = min(
                r["at"] for r in _order_requests(engine, sandbox) if r["at"] > killed_at
            ) - up_at
            with Session(engine) as session:
                while session.connection().execute(sa.text(
                        "SELECT count(*) FROM batch WHERE status = 'pending'")).scalar():
                    assert time.monotonic() < deadline, log.read_text()[-2000:]
                    time.sleep(0.1)
                    session.rollback()
        finally:
            stop(second)
        totals = sandbox.totals()
        requests = _order_requests(engine, sandbox)
    # The 30 s leases of the killed process were taken back at start, not waited out.
    assert resumed_after < 10, f"resumed {resumed_after:.1f} s after serving again"
    assert sandbox_duplicates_free(totals)
    assert totals["distinct_users"] == RESIDENTS
    with engine.connect() as connection:
        attempts = connection.execute(sa.text("SELECT sum(attempts) FROM batch")).scalar()
    # Attempts count requests that left (lost answers included), never claims alone.
    assert attempts <= len(requests)


def sandbox_duplicates_free(totals: dict) -> bool:
    return int(totals["duplicates"]) == 0 and totals["recipients_served"] == RESIDENTS
