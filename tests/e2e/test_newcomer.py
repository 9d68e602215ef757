"""The newcomer's path, as the README tells it: migrate, add a department, `broadcaster
serve` with no LINE channel (so it starts its own sandbox), a resident befriends the
account and chooses a district through LINE, a department sends to that district."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from broadcaster.sandbox.testing import free_port
from tests.conftest import REPO, auth, line_user_id

pytestmark = pytest.mark.slow


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broadcaster", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def _wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(service URL, sandbox URL, environment) of a `broadcaster serve` with defaults."""
    port, sandbox_port = free_port(), free_port()
    env = {
        **os.environ,
        "BROADCASTER_CONFIG": str(REPO / "config.toml"),
        "BROADCASTER_DATA_DIR": str(tmp_path / "data"),
        "BROADCASTER_SERVER_PORT": str(port),
        "BROADCASTER_SANDBOX_PORT": str(sandbox_port),
        "BROADCASTER_SCHEDULING_TICK_SECONDS": "0.2",
        # The test runs at whatever hour it is; quiet hours have their own tests.
        "BROADCASTER_QUIET_HOURS_ENABLED": "false",
        "BROADCASTER_LOG_LEVEL": "warning",
    }
    for name in ("BROADCASTER_LINE_CHANNEL_ACCESS_TOKEN", "BROADCASTER_LINE_CHANNEL_SECRET"):
        env.pop(name, None)
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "broadcaster", "serve"],
            cwd=REPO,
            env=env,
            stdout=stderr,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        # Refuses an unmigrated database, naming the fix.
        assert process.wait(timeout=30) == 1
        assert "broadcaster db upgrade" in log.read_text()
        _cli(env, "db", "upgrade")
        with log.open("ab") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "broadcaster", "serve"],
                cwd=REPO,
                env=env,
                stdout=stderr,
                stderr=stderr,
            )
        _wait_for(up)
        yield url, f"http://127.0.0.1:{sandbox_port}", env
    finally:
        process.terminate()
        process.wait(timeout=15)

    # Its sandbox (and dispatch process) do not outlive it, however it was stopped.
    def sandbox_gone() -> bool:
        try:
            httpx.get(f"http://127.0.0.1:{sandbox_port}/_sandbox/totals", timeout=0.5)
        except httpx.HTTPError:
            return True
        return False

    _wait_for(sandbox_gone, timeout=10)


def test_a_resident_enrolled_through_line_receives_a_department_notice(
    service: tuple[str, str, dict[str, str]],
) -> None:
    url, sandbox, env = service
    token = _cli(env, "department", "add", "子育て支援課").stdout.strip()
    assert token.startswith("bct_")

    north, centre = line_user_id(1), line_user_id(2)
    for user, district in ((north, "北"), (centre, "中央")):
        # The sandbox plays the resident: signed webhook events to our /line/webhook.
        follow = httpx.post(
            f"{sandbox}/_sandbox/webhooks/send", json={"type": "follow", "user_id": user}
        )
        assert follow.json()["status"] == 200
        chose = httpx.post(
            f"{sandbox}/_sandbox/webhooks/send",
            json={"type": "postback", "user_id": user, "data": f"set=district&v={district}"},
        )
        assert chose.json()["status"] == 200

    def welcomed(user: str) -> bool:
        got = httpx.post(f"{sandbox}/_sandbox/deliveries", json={"user_id": user}).json()
        return len(got.get("deliveries", got) if isinstance(got, dict) else got) >= 2

    _wait_for(lambda: welcomed(north))

    created = httpx.post(
        f"{url}/api/v1/broadcasts",
        headers=auth(token),
        json={
            "title": "北地区 子育てサロンのお知らせ",
            "category": "childcare",
            "template_text": "{{ resident.district }}地区の子育てサロンは {{ day }} に開きます。",
            "parameters": {"day": "12月5日(土)"},
            "rule": {"field": "district", "op": "eq", "value": "北"},
            "send_at": "now",
        },
    )
    assert created.status_code == 201, created.text
    broadcast_id = created.json()["id"]

    def sent() -> bool:
        body = httpx.get(f"{url}/api/v1/broadcasts/{broadcast_id}", headers=auth(token)).json()
        return body["status"] == "sent"

    _wait_for(sent)
    texts = [
        str(record)
        for record in httpx.post(f"{sandbox}/_sandbox/deliveries", json={"user_id": north}).json()[
            "deliveries"
        ]
    ]
    assert any("北地区の子育てサロンは 12月5日(土) に開きます。" in text for text in texts)
    others = httpx.post(f"{sandbox}/_sandbox/deliveries", json={"user_id": centre}).json()[
        "deliveries"
    ]
    assert not any("子育てサロン" in str(record) for record in others)
    assert httpx.get(f"{sandbox}/_sandbox/totals").json()["duplicates"] == 0
