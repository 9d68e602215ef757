"""Playing a resident by hand: the `sandbox resident` commands, the /_sandbox page, and the
record kept across restarts."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from broadcaster.cli import app
from broadcaster.sandbox import SandboxConfig
from broadcaster.sandbox.testing import SandboxThread
from tests.conftest import REPO, line_user_id, make_settings
from tests.webhook.conftest import ServedApp

ALICE = line_user_id(501)


@pytest.fixture
def served(tmp_path: Path, engine: Engine) -> Iterator[tuple[ServedApp, SandboxThread]]:
    record = tmp_path / "sandbox-record.jsonl"
    # The app must know the sandbox's URL and the sandbox the app's: start the app on a
    # settings object pointing at a sandbox port chosen first.
    sandbox = SandboxThread(SandboxConfig(record_file=str(record)))
    settings = make_settings(tmp_path, **{
        "line.api_base_url": sandbox.url,
        "line.channel_access_token": "sandbox-token",
        "line.channel_secret": "sandbox-secret",
    })
    service = ServedApp(settings, engine).start()
    sandbox.config.webhook_url = service.webhook_url
    sandbox.start()
    try:
        yield service, sandbox
    finally:
        sandbox.stop()
        service.stop()


def cli_env(tmp_path: Path, sandbox: SandboxThread) -> dict[str, str]:
    return {
        "BROADCASTER_CONFIG": str(REPO / "config.toml"),
        "BROADCASTER_DATA_DIR": str(tmp_path),
        "BROADCASTER_SANDBOX_PORT": str(sandbox.port),
    }


def test_befriend_from_the_command_line_shows_the_first_question_and_its_buttons(
    tmp_path: Path, served: tuple[ServedApp, SandboxThread]
) -> None:
    _, sandbox = served
    result = CliRunner().invoke(
        app, ["sandbox", "resident", "befriend", ALICE], env=cli_env(tmp_path, sandbox)
    )
    assert result.exit_code == 0, result.output
    assert "follow sent; the service answered 200" in result.output
    # The first question asks for the language, each in its own name (issue 18).
    assert "言語" in result.output
    assert re.search(r"\[English\] → set=language&v=en", result.output), result.output


def test_the_page_lists_residents_and_its_buttons_act_as_the_resident(
    served: tuple[ServedApp, SandboxThread],
) -> None:
    _, sandbox = served
    with httpx.Client(base_url=sandbox.url, follow_redirects=True) as client:
        page = client.post("/_sandbox/ui", data={"user_id": ALICE, "action": "befriend"})
        assert page.status_code == 200 and ALICE in page.text and "(friend)" in page.text
        # Tap the first quick-reply button the welcome offered.
        data = re.search(r'name="action" value="choose"><input type="hidden" name="data" '
                         r'value="([^"]+)"', page.text)
        assert data, page.text
        before = len(sandbox.deliveries(ALICE))
        client.post("/_sandbox/ui", data={"user_id": ALICE, "action": "choose",
                                          "data": data.group(1).replace("&amp;", "&")})
        assert len(sandbox.deliveries(ALICE)) == before + 1
        blocked = client.post("/_sandbox/ui", data={"user_id": ALICE, "action": "block"})
        assert "(not a friend)" in blocked.text
        bad = client.post("/_sandbox/ui", data={"user_id": ALICE, "action": "location",
                                                "latitude": "north", "longitude": "1"})
        assert "must be numbers" in bad.text


def test_the_record_survives_a_restart_when_a_file_is_given(
    tmp_path: Path, served: tuple[ServedApp, SandboxThread]
) -> None:
    _, sandbox = served
    sandbox.send_webhook(type="follow", user_id=ALICE)
    deadline = time.monotonic() + 10
    while not (received := sandbox.deliveries(ALICE)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert received, "the service did not reply to the follow"
    record = sandbox.config.record_file
    sandbox.stop()
    with SandboxThread(SandboxConfig(record_file=record)) as again:
        assert [d["messages"] for d in again.deliveries(ALICE)] == [
            d["messages"] for d in received
        ]
        assert ALICE in httpx.get(f"{again.url}/_sandbox").text
