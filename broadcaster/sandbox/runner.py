"""Serving a sandbox with uvicorn, and the command line that does it."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import httpx
import uvicorn

from broadcaster.sandbox.config import DEFAULT_RATE_LIMITS, FaultConfig, SandboxConfig
from broadcaster.sandbox.server import create_sandbox_app


def uvicorn_config(
    config: SandboxConfig, host: str, port: int, *, configure_logging: bool = True
) -> uvicorn.Config:
    """uvicorn settings for a sandbox. `configure_logging=False` leaves the process's
    logging alone (uvicorn otherwise applies its own dictConfig), for in-process use."""
    # h11 is the protocol whose transport connection.py knows how to close; the access
    # log is off because at 200 multicasts/s it would cost more than the requests.
    extra: dict[str, Any] = {} if configure_logging else {"log_config": None}
    return uvicorn.Config(
        create_sandbox_app(config),
        host=host,
        port=port,
        http="h11",
        loop="asyncio",
        lifespan="off",
        access_log=False,
        proxy_headers=False,
        log_level="warning",
        timeout_keep_alive=30,
        # A client's keep-alive connections must not hold a stopping sandbox for long.
        timeout_graceful_shutdown=1,
        **extra,
    )


def config_args(config: SandboxConfig) -> list[str]:
    """Command-line flags reproducing `config` for `python -m broadcaster.sandbox`."""
    args = [
        "--token",
        config.channel_access_token,
        "--secret",
        config.channel_secret,
        "--delay-ms",
        str(config.delay_ms),
        "--seed",
        str(config.seed),
    ]
    if config.webhook_url:
        args += ["--webhook-url", config.webhook_url]
    if config.monthly_quota is not None:
        args += ["--monthly-quota", str(config.monthly_quota)]
    for name in DEFAULT_RATE_LIMITS:
        flag = name.replace("/", "-")
        if name in config.rate_limits:
            args += [f"--{flag}-rate", repr(config.rate_limits[name])]
        if name in config.bucket_capacity:
            args += [f"--{flag}-capacity", repr(config.bucket_capacity[name])]
    faults = asdict(config.faults)
    for key, flag in (
        ("error_500", "--fault-500"),
        ("error_429", "--fault-429"),
        ("slow", "--fault-slow"),
        ("drop", "--fault-drop"),
        ("lost_response", "--fault-lost-response"),
    ):
        args += [flag, repr(faults[key])]
    args += ["--slow-ms", str(config.faults.slow_ms)]
    if config.faults.script:
        args += ["--script", ",".join(config.faults.script)]
    for user_id in config.followers:
        args += ["--follower", user_id]
    if config.record_file:
        args += ["--record-file", config.record_file]
    return args


def wait_until_up(url: str, timeout: float = 10.0) -> None:
    """Poll the health route until it answers; raises TimeoutError naming the URL."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_sandbox/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.02)
    raise TimeoutError(f"sandbox at {url} did not answer within {timeout}s: {last}")


def run(config: SandboxConfig, host: str = "127.0.0.1", port: int = 8090) -> None:
    """Serve until interrupted (blocking)."""
    uvicorn.Server(uvicorn_config(config, host, port)).run()


def _rate(text: str) -> float:
    # "60/3600" reads better than 0.01666 for LINE's per-hour limits.
    if "/" in text:
        num, den = text.split("/", 1)
        return float(num) / float(den)
    return float(text)


def parse_args(argv: Sequence[str] | None = None) -> tuple[SandboxConfig, str, int]:
    parser = argparse.ArgumentParser(
        prog="python -m broadcaster.sandbox", description="Run the local LINE sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--token", default=SandboxConfig.channel_access_token)
    parser.add_argument("--secret", default=SandboxConfig.channel_secret)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--monthly-quota", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    for name in DEFAULT_RATE_LIMITS:
        flag = name.replace("/", "-")
        line_rate = f"{DEFAULT_RATE_LIMITS[name]:g}"
        parser.add_argument(
            f"--{flag}-rate",
            type=_rate,
            default=None,
            dest=f"rate_{name}",
            help=f"{name} requests per second (LINE: {line_rate})",
        )
        parser.add_argument(f"--{flag}-capacity", type=float, default=None, dest=f"cap_{name}")
    parser.add_argument("--fault-500", type=float, default=0.0)
    parser.add_argument("--fault-429", type=float, default=0.0)
    parser.add_argument("--fault-slow", type=float, default=0.0)
    parser.add_argument("--slow-ms", type=int, default=1000)
    parser.add_argument("--fault-drop", type=float, default=0.0)
    parser.add_argument("--fault-lost-response", type=float, default=0.0)
    parser.add_argument("--script", default="", help="comma-separated outcomes, e.g. 500,ok,drop")
    parser.add_argument("--follower", action="append", default=[], help="a known friend's user id")
    parser.add_argument("--record-file", default=None, help="keep the record in this JSONL file")
    args = parser.parse_args(argv)
    rates = {n: getattr(args, f"rate_{n}") for n in DEFAULT_RATE_LIMITS}
    caps = {n: getattr(args, f"cap_{n}") for n in DEFAULT_RATE_LIMITS}
    config = SandboxConfig(
        channel_access_token=args.token,
        channel_secret=args.secret,
        webhook_url=args.webhook_url,
        rate_limits={n: r for n, r in rates.items() if r is not None},
        bucket_capacity={n: c for n, c in caps.items() if c is not None},
        monthly_quota=args.monthly_quota,
        delay_ms=args.delay_ms,
        seed=args.seed,
        followers=list(args.follower),
        record_file=args.record_file,
        faults=FaultConfig(
            error_500=args.fault_500,
            error_429=args.fault_429,
            slow=args.fault_slow,
            slow_ms=args.slow_ms,
            drop=args.fault_drop,
            lost_response=args.fault_lost_response,
            script=[s.strip() for s in args.script.split(",") if s.strip()],
        ),
    )
    return config, args.host, args.port


def main(argv: Sequence[str] | None = None) -> None:
    config, host, port = parse_args(argv)
    print(f"LINE sandbox on http://{host}:{port}", flush=True)
    run(config, host, port)
