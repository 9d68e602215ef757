"""`broadcaster serve` as a real child process, for tests that kill and restart it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def serve(
    tmp_path: Path, port: int, sandbox_url: str, log: Path, **env_overrides: str
) -> subprocess.Popen[bytes]:
    """`broadcaster serve` as a child process on the data dir under `tmp_path`, delivering
    to the sandbox at `sandbox_url`; returns once /healthz answers (the caller stops it)."""
    env = {
        **os.environ,
        "BROADCASTER_CONFIG": str(REPO / "config.toml"),
        "BROADCASTER_DATA_DIR": str(tmp_path / "data"),
        "BROADCASTER_SERVER_PORT": str(port),
        "BROADCASTER_SCHEDULING_TICK_SECONDS": "0.2",
        # The test runs at whatever hour it is; quiet hours have their own tests.
        "BROADCASTER_QUIET_HOURS_ENABLED": "false",
        "BROADCASTER_LINE_CHANNEL_ACCESS_TOKEN": "sandbox-token",
        "BROADCASTER_LINE_CHANNEL_SECRET": "sandbox-secret",
        "BROADCASTER_LINE_API_BASE_URL": sandbox_url,
        "BROADCASTER_LOG_LEVEL": "warning",
        **env_overrides,
    }
    with log.open("ab") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", "from broadcaster.cli import main; main()", "serve"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(log.read_text())
    except BaseException:
        stop(process)
        raise


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill: a test's child never outlives it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


