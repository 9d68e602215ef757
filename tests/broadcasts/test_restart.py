"""Restart: `broadcaster serve` is killed (SIGKILL) and started again on the same database.
The schedule lives in the rows, so the new process sends what is due (within the allowed
lateness), expires what is too late, and keeps what is still to come, each exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_requests import BroadcastRequest
from broadcaster.broadcasts import Broadcast
from broadcaster.clock import utcnow
from broadcaster.departments import Role, create_department
from broadcaster.render import Renderer
from broadcaster.sandbox.testing import SandboxProcess, free_port
from tests.conftest import auth, make_settings
from tests.serving import serve as _serve

REPO = Path(__file__).resolve().parents[2]


def _wait_for(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_restarted_service_picks_up_every_broadcast_from_the_rows(tmp_path, make_resident):
    # The service's own database (a file under its data dir), with the schema of this code.
    from broadcaster.db import make_engine
    from tests.conftest import _create_schema

    settings = make_settings(tmp_path, **{"quiet_hours.enabled": False})
    engine = make_engine(settings.resolved_database_url)
    _create_schema(engine)
    renderer = Renderer.from_settings(settings)
    users = ["U" + f"{n:032x}" for n in (1, 2)]
    from segments.residents import Resident

    with Session(engine) as session:
        for user in users:
            now = utcnow()
            session.add(
                Resident(
                    line_user_id=user,
                    followed_at=now,
                    created_at=now,
                    updated_at=now,
                    district="中央",
                )
            )
        department, token = create_department(session, "環境課", Role.department, utcnow())
        session.commit()
        department_id = department.id

    def add(title: str, send_at, *, shift=timedelta(0)) -> int:
        """Create through the one path, then move send_at as if time had passed."""
        with Session(engine, expire_on_commit=False) as session:
            broadcast = create_broadcast(
                session,
                "test",
                department_id,
                BroadcastRequest(
                    title=title, category="general", template_text=title, send_at=send_at
                ),
                settings,
                renderer,
                utcnow(),
            )
            session.flush()
            broadcast.send_at = broadcast.send_at - shift
            session.commit()
            assert broadcast.id is not None
            return broadcast.id

    def status(broadcast_id: int) -> str:
        with Session(engine) as session:
            row = session.get(Broadcast, broadcast_id)
            assert row is not None
            return row.status

    port = free_port()
    log = tmp_path / "serve.log"
    with SandboxProcess() as sandbox:
        first = _serve(tmp_path, port, sandbox.url, log)
        api = f"http://127.0.0.1:{port}/api/v1/broadcasts"
        created = httpx.post(
            api,
            headers=auth(token),
            json={
                "title": "before",
                "category": "general",
                "template_text": "before",
                "send_at": "now",
            },
        )
        assert created.status_code == 201, created.text
        _wait_for(lambda: status(created.json()["id"]) == "sent")
        # Scheduled through the API a few seconds ahead, then the process dies.
        later = (utcnow() + timedelta(seconds=4)).isoformat()
        scheduled = httpx.post(
            api,
            headers=auth(token),
            json={
                "title": "scheduled",
                "category": "general",
                "template_text": "scheduled",
                "send_at": later,
            },
        ).json()["id"]
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        # While it is down: one came due 5 minutes ago (within 30), one 45 minutes ago.
        due_while_down = add(
            "due while down", utcnow() + timedelta(minutes=1), shift=timedelta(minutes=6)
        )
        too_late = add("too late", utcnow() + timedelta(minutes=1), shift=timedelta(minutes=46))
        assert status(scheduled) == "scheduled"

        second = _serve(tmp_path, port, sandbox.url, log)
        try:
            _wait_for(lambda: status(due_while_down) == "sent")
            _wait_for(lambda: status(too_late) == "expired")
            _wait_for(lambda: status(scheduled) == "sent")
            with Session(engine) as session:
                expired = session.get(Broadcast, too_late)
                assert expired is not None and "late" in (expired.status_reason or "")
            for user in users:
                texts = [d["messages"][0]["text"] for d in sandbox.deliveries(user)]
                assert sorted(texts) == sorted(["before", "scheduled", "due while down"])
            assert sandbox.duplicates() == []
            audit = (
                engine.connect()
                .execute(
                    sa.text("select action from audit_entry where entity_id = :id"),
                    {"id": str(too_late)},
                )
                .scalars()
                .all()
            )
            assert "broadcast.expire" in audit
        finally:
            second.send_signal(signal.SIGINT)
            try:
                second.wait(timeout=10)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait()
    engine.dispose()
