"""`broadcaster doctor` against the sandbox standing in for a real LINE channel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from broadcaster.cli import app
from broadcaster.clock import utcnow
from broadcaster.doctor import run_checks
from broadcaster.sandbox import SandboxConfig
from broadcaster.sandbox.testing import SandboxThread
from tests.conftest import REPO, make_settings

PUBLIC = "https://city.example.lg.jp"


@pytest.fixture
def line() -> Iterator[SandboxThread]:
    config = SandboxConfig(webhook_url=f"{PUBLIC}/line/webhook", monthly_quota=1000)
    with SandboxThread(config) as sandbox:
        yield sandbox


def channel(
    tmp_path: Path, engine: Engine, line: SandboxThread, **more: object
) -> dict[str, object]:
    return {
        "database_url": engine.url.render_as_string(hide_password=False),
        "line.channel_access_token": "sandbox-token",
        "line.channel_secret": "sandbox-secret",
        "line.api_base_url": line.url,
        "server.public_url": PUBLIC,
        **more,
    }


def by_name(results: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {r.name: r.status for r in results}


def test_a_ready_installation_passes_every_check(
    tmp_path: Path, engine: Engine, line: SandboxThread, tokens: dict[str, str]
) -> None:
    settings = make_settings(tmp_path, **channel(tmp_path, engine, line))
    results = run_checks(settings)
    assert by_name(results) == {
        "configuration": "ok",
        "database": "ok",
        "LINE channel": "ok",
        "LINE quota": "ok",
        "webhook": "ok",
        "garbage department": "ok",
        "clock": "ok",
    }, [r.line() for r in results]
    assert "broadcaster sandbox" in next(r.detail for r in results if r.name == "LINE channel")


def test_a_webhook_pointing_elsewhere_fails_and_the_command_exits_1(
    tmp_path: Path, engine: Engine, line: SandboxThread, tokens: dict[str, str]
) -> None:
    overrides = channel(tmp_path, engine, line, **{"server.public_url": "https://other.example"})
    env = {"BROADCASTER_CONFIG": str(REPO / "config.toml"), "BROADCASTER_DATA_DIR": str(tmp_path)}
    for key, value in overrides.items():
        env["BROADCASTER_" + key.replace(".", "_").upper()] = str(value)
    result = CliRunner().invoke(app, ["doctor"], env=env)
    assert result.exit_code == 1
    webhook = next(line for line in result.output.splitlines() if " webhook:" in line)
    assert webhook.startswith("fail") and "https://other.example/line/webhook" in webhook
    assert len(result.output.strip().splitlines()) == 7  # one line per check


def test_a_wrong_token_fails_the_channel_check(
    tmp_path: Path, engine: Engine, line: SandboxThread
) -> None:
    settings = make_settings(
        tmp_path, **channel(tmp_path, engine, line, **{"line.channel_access_token": "wrong"})
    )
    results = by_name(run_checks(settings))
    assert results["LINE channel"] == "fail" and results["LINE quota"] == "fail"
    assert results["garbage department"] == "warn"  # no calendar yet: not a failure


def test_an_unmigrated_database_and_a_skewed_clock_fail(
    tmp_path: Path, line: SandboxThread
) -> None:
    settings = make_settings(
        tmp_path,
        **{
            "line.channel_access_token": "sandbox-token",
            "line.channel_secret": "sandbox-secret",
            "line.api_base_url": line.url,
            "server.public_url": PUBLIC,
        },
    )
    results = run_checks(settings, now=lambda: utcnow() + timedelta(minutes=5))
    assert by_name(results)["database"] == "fail"
    assert "broadcaster db upgrade" in next(r.detail for r in results if r.name == "database")
    assert by_name(results)["clock"] == "fail"
