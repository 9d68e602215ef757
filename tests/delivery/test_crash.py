"""Kill the sending process (SIGKILL) mid-dispatch and mid-send, with LINE sometimes
accepting a request whose answer never arrives, then restart: everyone served once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.broadcasts import Broadcast, BroadcastStatus
from broadcaster.progress import broadcast_progress
from broadcaster.sandbox import FaultConfig, SandboxConfig
from broadcaster.sandbox.testing import SandboxProcess
from tests.delivery.scenario import ledgered

SCRIPT = Path(__file__).with_name("crash_worker.py")
REPO = Path(__file__).resolve().parents[2]


def _start(engine: Engine, sandbox: SandboxProcess, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, str(SCRIPT), engine.url.render_as_string(hide_password=False),
             sandbox.url], cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr,
        )


def _batch_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM batch")).scalar_one())


@pytest.mark.slow
def test_killed_and_restarted_sender_serves_everyone_exactly_once(
    engine: Engine, tmp_path: Path, residents, broadcast
) -> None:
    log = tmp_path / "worker.log"
    residents(6000, language=lambda n: ["ja", "en", "zh"][n % 3])
    # As a claim leaves it; one rendering per language.
    b = broadcast(status=BroadcastStatus.sending,
                  template_text="断水のお知らせ {{ resident.language }}")
    config = SandboxConfig(rate_limits={"multicast": 20.0},
                           faults=FaultConfig(lost_response=0.3, slow=0.1, slow_ms=800))
    with SandboxProcess(config) as sandbox:
        # Kill 1: while dispatch is writing the outbox (its first batches are there).
        process = _start(engine, sandbox, log)
        deadline = time.monotonic() + 30
        while not _batch_count(engine):
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        # Kill 2 and 3: mid-send, with requests in flight and answers being lost.
        for _ in range(2):
            process = _start(engine, sandbox, log)
            before = sandbox.totals()["accepted_requests"]
            deadline = time.monotonic() + 20
            while sandbox.totals()["accepted_requests"] < before + 3:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        process = _start(engine, sandbox, log)
        process.wait(timeout=60)
        assert process.returncode == 0, log.read_text()[-2000:]
        totals = sandbox.totals()
        assert sandbox.duplicates() == [] and totals["duplicates"] == 0
        assert totals["distinct_users"] == totals["recipients_served"] == 6000
    ledgered(engine)  # the rows of every batch (a resumed run wrote some already)
    with Session(engine) as session:
        progress = broadcast_progress(session, b.id)
        stored = session.get(Broadcast, b.id)
        count, accepted = session.connection().execute(sa.text(
            "SELECT count(*), sum(status = 'accepted') FROM delivery")).one()
    assert count == accepted == 6000
    assert progress["deliveries"]["accepted"] == 6000
    assert progress["batches"]["pending"] == 0 and progress["batches"]["failed"] == 0
    assert stored is not None and stored.status == BroadcastStatus.sent
    assert stored.renderings <= 6, "each language rendered once per run at most"
