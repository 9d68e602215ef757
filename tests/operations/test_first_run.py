"""A newcomer's first run as the README tells it: `make run` (db upgrade, serve) starts
clean and says what to do next, `make demo` gives a populated console, the sandbox shows
what the demo town received, and the log has one line per event and no ERROR."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from broadcaster.sandbox.testing import free_port
from tests.conftest import REPO

# Generous: on a loaded shared machine `serve` alone can take a minute to answer.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def wait_for(check: Callable[[], bool], timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_make_run_then_make_demo(tmp_path: Path) -> None:
    port, sandbox_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")},
        "BROADCASTER_CONFIG": str(REPO / "config.toml"),
        "BROADCASTER_DATA_DIR": str(tmp_path / "data"),
        "BROADCASTER_SERVER_PORT": str(port),
        "BROADCASTER_SANDBOX_PORT": str(sandbox_port),
        "BROADCASTER_SCHEDULING_TICK_SECONDS": "0.2",
        # The test runs at whatever hour it is; quiet hours have their own tests.
        "BROADCASTER_QUIET_HOURS_ENABLED": "false",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "broadcaster", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120, check=True)

    cli("db", "upgrade")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "broadcaster", "serve"], cwd=REPO,
                                   env=env, stdout=out, stderr=out)
    try:
        wait_for(lambda: process.poll() is None and "next steps:" in log.read_text())
        started = log.read_text()
        assert f"staff console   http://127.0.0.1:{port}/console" in started
        assert "make demo" in started

        demo = cli("demo").stdout
        password = re.search(r"password (\S+) \(shown once\)", demo)
        assert password and "情報政策課: admin" in demo, demo
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            login_form = client.get("/console").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_form)
            assert csrf, login_form
            signed_in = client.post("/console/login", data={
                "login": "admin", "password": password.group(1), "csrf_token": csrf.group(1)})
            assert signed_in.status_code == 303
            console = client.get("/console/broadcasts")
            assert "乳幼児健診のお知らせ" in console.text

        with httpx.Client(base_url=f"http://127.0.0.1:{sandbox_port}", timeout=30) as sandbox:
            wait_for(lambda: "防災訓練を行います" in sandbox.get("/_sandbox").text)
        wait_for(lambda: "broadcast 2 sent" in log.read_text())
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = log.read_text()
    assert "ERROR" not in text and "Traceback" not in text, text
    assert "apscheduler" not in text, text
