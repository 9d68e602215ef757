"""Running a sandbox for tests and benchmarks: in a background thread of this process, or
as a separate process that outlives whatever a test kills.

Both handles talk to the sandbox only over HTTP, so nothing here touches the sandbox's
state from another thread.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
from typing import Any

import httpx
import uvicorn

from broadcaster.sandbox.config import SandboxConfig
from broadcaster.sandbox.runner import config_args, uvicorn_config, wait_until_up


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _Control:
    """The HTTP control surface shared by both handles."""

    url: str
    config: SandboxConfig
    _http: httpx.Client | None = None

    def _client(self) -> httpx.Client:
        # One client per handle: building an httpx.Client costs milliseconds (SSL context).
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=10.0)
        return self._http

    def _close_client(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the fault settings (FaultConfig fields); omitted ones mean no fault."""
        response = self._client().post("/_sandbox/faults", json=faults)
        response.raise_for_status()
        return dict(response.json())

    def clear_faults(self) -> None:
        self.set_faults()

    def reset(self) -> None:
        self._client().post("/_sandbox/reset").raise_for_status()

    def totals(self) -> dict[str, Any]:
        return dict(self._client().get("/_sandbox/totals").json())

    def deliveries(self, user_id: str) -> list[dict[str, Any]]:
        response = self._client().post("/_sandbox/deliveries", json={"user_id": user_id})
        return list(response.json()["deliveries"])

    def rich_menus(self, user_id: str | None = None) -> dict[str, Any]:
        """Menus, the default and, for `user_id`, its `linked` and `shown` menu ids."""
        body = {"user_id": user_id} if user_id is not None else {}
        response = self._client().post("/_sandbox/richmenus", json=body)
        response.raise_for_status()
        return dict(response.json())

    def duplicates(self) -> list[dict[str, Any]]:
        return list(self._client().get("/_sandbox/duplicates").json()["duplicates"])

    def requests(self, status: int | None = None) -> list[dict[str, Any]]:
        params = {"status": str(status)} if status is not None else {}
        return list(self._client().get("/_sandbox/requests", params=params).json()["requests"])

    def send_webhook(self, **event: Any) -> dict[str, Any]:
        """Play a resident (see /_sandbox/webhooks/send); returns event, payload, status."""
        response = self._client().post("/_sandbox/webhooks/send", json=event)
        response.raise_for_status()
        return dict(response.json())


class SandboxThread(_Control):
    """A sandbox served by uvicorn in a daemon thread of this process."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1") -> None:
        self.config = config or SandboxConfig()
        self.host = host
        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        self._server = uvicorn.Server(
            uvicorn_config(self.config, host, self.port, configure_logging=False)
        )
        self._thread = threading.Thread(target=self._server.run, name="line-sandbox", daemon=True)

    def start(self) -> SandboxThread:
        self._thread.start()
        wait_until_up(self.url)
        return self

    def stop(self) -> None:
        self._close_client()
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SandboxProcess(_Control):
    """A sandbox in its own Python process (`python -m broadcaster.sandbox`)."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1") -> None:
        self.config = config or SandboxConfig()
        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        self._argv = [
            sys.executable,
            "-m",
            "broadcaster.sandbox",
            "--host",
            host,
            "--port",
            str(self.port),
            *config_args(self.config),
        ]
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None

    def start(self, timeout: float = 20.0) -> SandboxProcess:
        # stderr goes to a file, not a pipe: an unread pipe would block a chatty child.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self._argv, stdout=subprocess.DEVNULL, stderr=self._stderr, env=dict(os.environ)
        )
        try:
            wait_until_up(self.url, timeout)
        except TimeoutError as exc:
            self._stderr.seek(0)
            output = self._stderr.read().decode(errors="replace")[-2000:]
            self.stop()
            raise TimeoutError(f"{exc}; sandbox stderr:\n{output}") from exc
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self) -> None:
        self._close_client()
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self.process = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
