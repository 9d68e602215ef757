"""`broadcaster serve`: the service, and the LINE sandbox beside it when no channel is set.

With no channel access token the service must still show the whole system working, so it
starts the sandbox in its own process (a stand-in for LINE should not share our event loop)
and points LINE calls and webhook checks at it.

Everything that can refuse a start is checked before anything starts: the ports (a second
`serve` must not run a scheduler against the same database before failing), then the
schema. The service's own socket is bound here and handed to uvicorn, so no other process
can take the port between the check and the start.
"""

from __future__ import annotations

# Lazy imports: commands import what they use when they run, so that `broadcaster
# --help` and each command start in a fraction of a second (issue 17).
import errno
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import uvicorn
from pydantic import SecretStr

from broadcaster.children import die_with_parent
from broadcaster.command import not_migrated_message
from broadcaster.logs import configure_logging
from broadcaster.sandbox.config import SandboxConfig
from broadcaster.settings import Settings

log = logging.getLogger("broadcaster.serve")


class PortInUse(OSError):
    """A port the service needs is taken; the message names it and the setting."""


def sandbox_config(
    settings: Settings,
    *,
    latency_ms: int | None = None,
    webhook_url: str | None = None,
    record_file: str | None = None,
) -> SandboxConfig:
    """The sandbox as configured: LINE's real limits, our webhook as its destination."""
    server = settings.server
    chosen = record_file if record_file is not None else settings.sandbox.record_file
    return SandboxConfig(
        channel_access_token=settings.sandbox.access_token.get_secret_value(),
        channel_secret=settings.sandbox.channel_secret.get_secret_value(),
        webhook_url=webhook_url or f"http://{server.host}:{server.port}/line/webhook",
        delay_ms=settings.sandbox.added_latency_ms if latency_ms is None else latency_ms,
        record_file=str(settings.data_dir / chosen) if chosen else None,
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


def bind(host: str, port: int, setting: str) -> socket.socket:
    """A listening socket on host:port, or PortInUse naming the setting to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a port left in TIME_WAIT by a stopped service may be reused.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortInUse(
                f"port {port} on {host} is in use (is another `broadcaster serve` running?); "
                f"stop it or change {setting}"
            ) from None
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def check_free(host: str, port: int, setting: str) -> None:
    """PortInUse if host:port cannot be bound now."""
    bind(host, port, setting).close()


@contextmanager
def sandbox_process(settings: Settings) -> Iterator[str]:
    """Run the sandbox as a child process for as long as the block runs; yields its URL."""
    from broadcaster.sandbox.runner import config_args, wait_until_up

    host, port = settings.sandbox.host, settings.sandbox.port
    url = f"http://{host}:{port}"
    argv = [sys.executable, "-m", "broadcaster.sandbox", "--host", host, "--port", str(port)]
    process = subprocess.Popen(
        [*argv, *config_args(sandbox_config(settings))],
        env=dict(os.environ),
        preexec_fn=partial(die_with_parent, os.getpid()),
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


def next_steps(settings: Settings, sandbox: bool) -> list[str]:
    """What a newcomer can do now, printed once the service answers.

    One address a line: a terminal that wraps a long line in the middle of a URL breaks
    the link it would otherwise let a person click.
    """
    base = f"http://{settings.server.host}:{settings.server.port}"
    lines = [
        "broadcaster is up (Ctrl-C stops it):",
        f"  staff console   {base}/console",
        f"  API docs        {base}/docs",
        f"  health          {base}/healthz",
        f"  metrics         {base}/metrics",
    ]
    if sandbox:
        where = f"http://{settings.sandbox.host}:{settings.sandbox.port}/_sandbox"
        lines += [
            f"  LINE sandbox    {where}",
            "  (no LINE channel token is set: messages go to the sandbox, never to residents)",
        ]
    lines += [
        "next steps:",
        "  make demo                                    a demo town, with sign-ins printed",
        "  .venv/bin/broadcaster department add 環境課    a department and its API token",
        "  .venv/bin/broadcaster sandbox resident --help  play a resident",
        "  .venv/bin/broadcaster doctor                 check configuration, database, LINE",
    ]
    return lines


def run(settings: Settings) -> int:
    """Serve until interrupted; returns the exit code (1 with one line when it cannot)."""
    configure_logging(settings.log_level, settings.log_format, settings.tz)
    server = settings.server
    try:
        listening = bind(server.host, server.port, "server.port")
    except PortInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with listening:
        if settings.line.uses_sandbox:
            try:
                check_free(settings.sandbox.host, settings.sandbox.port, "sandbox.port")
            except PortInUse as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
        return _serve(settings, listening)


def _serve(settings: Settings, listening: socket.socket) -> int:
    from broadcaster.db import make_engine, pending_migrations

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    pending = pending_migrations(engine)
    if pending and not settings.auto_migrate:
        print(f"error: {not_migrated_message(len(pending))} (or set auto_migrate = true)",
              file=sys.stderr)
        return 1
    with _line_channel(settings) as effective:
        # Sending first (the database and the SDK only): batches a crash left in the
        # outbox go out again while the application is still being imported. Replicas on
        # PostgreSQL join first (the app does that, then sends): a replica claims batches
        # only once its membership says it is alive (see `replicas`).
        from broadcaster.delivery.gate import EmergencyGate
        from broadcaster.delivery.sending import Sending

        sending: Sending | None = None
        if engine.dialect.name != "postgresql":
            sending = Sending(engine, effective, EmergencyGate())
            sending.start()
        try:
            # Only now the application (seconds of imports): a refusal above comes at once.
            from broadcaster.app import create_app

            config = uvicorn.Config(
                create_app(effective, engine=engine, sending=sending),
                # No log_level either: uvicorn would set its loggers to it, undoing logs.py.
                log_config=None,
                access_log=settings.log_level == "debug",
            )
            _Server(config, next_steps(settings, settings.line.uses_sandbox)).run(
                sockets=[listening]
            )
        finally:
            if sending is not None:
                sending.stop()  # the app's lifespan stopped it already, unless it never ran
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, saying what to do next once start-up has finished."""

    def __init__(self, config: uvicorn.Config, lines: list[str]) -> None:
        super().__init__(config)
        self.lines = lines

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print("\n".join(self.lines), file=sys.stderr, flush=True)


@contextmanager
def _line_channel(settings: Settings) -> Iterator[Settings]:
    if not settings.line.uses_sandbox:
        yield settings
        return
    with sandbox_process(settings):
        yield with_sandbox(settings)
