"""`broadcaster serve`: the service, and the LINE sandbox beside it when no channel is set.

With no channel access token the service must still show the whole system working, so it
starts the sandbox in its own process (a stand-in for LINE should not share our event loop)
and points LINE calls and webhook checks at it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from pydantic import SecretStr
from rich.console import Console

from broadcaster.app import create_app
from broadcaster.children import die_with_parent
from broadcaster.db import make_engine, pending_migrations
from broadcaster.sandbox.config import SandboxConfig
from broadcaster.sandbox.runner import config_args, wait_until_up
from broadcaster.settings import Settings


def sandbox_config(
    settings: Settings, *, latency_ms: int | None = None, webhook_url: str | None = None
) -> SandboxConfig:
    """The sandbox as configured: LINE's real limits, our webhook as its destination."""
    server = settings.server
    return SandboxConfig(
        channel_access_token=settings.sandbox.access_token.get_secret_value(),
        channel_secret=settings.sandbox.channel_secret.get_secret_value(),
        webhook_url=webhook_url or f"http://{server.host}:{server.port}/line/webhook",
        delay_ms=settings.sandbox.added_latency_ms if latency_ms is None else latency_ms,
    )


def with_sandbox(settings: Settings) -> Settings:
    """Settings whose LINE channel is the local sandbox."""
    sandbox = settings.sandbox
    line = settings.line.model_copy(
        update={
            "api_base_url": f"http://{sandbox.host}:{sandbox.port}",
            "channel_access_token": SecretStr(sandbox.access_token.get_secret_value()),
            "channel_secret": SecretStr(sandbox.channel_secret.get_secret_value()),
        }
    )
    return settings.model_copy(update={"line": line})


@contextmanager
def sandbox_process(settings: Settings) -> Iterator[str]:
    """Run the sandbox as a child process for as long as the block runs; yields its URL."""
    host, port = settings.sandbox.host, settings.sandbox.port
    url = f"http://{host}:{port}"
    argv = [sys.executable, "-m", "broadcaster.sandbox", "--host", host, "--port", str(port)]
    process = subprocess.Popen(
        [*argv, *config_args(sandbox_config(settings))],
        env=dict(os.environ),
        preexec_fn=die_with_parent,
    )
    try:
        wait_until_up(url, timeout=20)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def run(settings: Settings, console: Console) -> int:
    """Serve until interrupted; returns the exit code."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    if pending_migrations(engine) and not settings.auto_migrate:
        console.print(
            "[red]error:[/red] the database is not migrated; run `broadcaster db upgrade` "
            "(or set auto_migrate = true)"
        )
        return 1
    base = f"http://{settings.server.host}:{settings.server.port}"
    with _line_channel(settings, console) as effective:
        console.print(f"API docs: {base}/docs   console: {base}/console   health: {base}/healthz")
        uvicorn.run(
            create_app(effective, engine=engine),
            host=settings.server.host,
            port=settings.server.port,
            log_level=settings.log_level,
        )
    return 0


@contextmanager
def _line_channel(settings: Settings, console: Console) -> Iterator[Settings]:
    if not settings.line.uses_sandbox:
        yield settings
        return
    with sandbox_process(settings) as url:
        console.print(f"no LINE channel token set: delivering to the LINE sandbox at {url}")
        yield with_sandbox(settings)
