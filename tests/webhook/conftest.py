"""Webhook fixtures: a LINE sandbox in a thread, and our app served for real by uvicorn on a
free port, so the sandbox POSTs signed events to it and records the replies we send back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.engine import Engine

from broadcaster import rich_menus
from broadcaster.app import create_app
from broadcaster.sandbox import SandboxConfig
from broadcaster.sandbox.testing import SandboxThread, free_port
from broadcaster.settings import Settings
from tests.conftest import make_settings


@pytest.fixture(autouse=True)
def _rich_menu_switches_finish() -> Iterator[None]:
    """An order switches rich menus in a thread after it commits; let it end in its test."""
    yield
    rich_menus.wait_for_switches()


@pytest.fixture(scope="session")
def webhook_sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig()) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(webhook_sandbox: SandboxThread) -> SandboxThread:
    webhook_sandbox.reset()
    webhook_sandbox.clear_faults()
    return webhook_sandbox


@pytest.fixture
def line_settings(tmp_path: Path, sandbox: SandboxThread) -> Settings:
    """Settings pointing the service at the sandbox, with the sandbox's token and secret."""
    return make_settings(
        tmp_path,
        **{
            "line.api_base_url": sandbox.url,
            "line.channel_access_token": sandbox.config.channel_access_token,
            "line.channel_secret": sandbox.config.channel_secret,
            "line.request_timeout_seconds": 5.0,
        },
    )


class ServedApp:
    """Our app under uvicorn in a daemon thread."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        app = create_app(settings, engine=engine, background=False)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.webhook_url = f"{self.url}/line/webhook"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="app", daemon=True)

    def start(self) -> ServedApp:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("app did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator[Callable[[Settings, Engine], ServedApp]]:
    started: list[ServedApp] = []

    def start(settings: Settings, engine: Engine) -> ServedApp:
        served = ServedApp(settings, engine).start()
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture
def app(serve: Callable[[Settings, Engine], ServedApp], line_settings: Settings,
        engine: Engine) -> ServedApp:
    return serve(line_settings, engine)


class LineUser:
    """One resident's LINE app: sends events through the sandbox, reads the replies it got."""

    def __init__(self, sandbox: SandboxThread, app: ServedApp, user_id: str) -> None:
        self.sandbox = sandbox
        self.app = app
        self.user_id = user_id
        self.seen = 0

    def send(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send one event; asserts the webhook answered 200 and returns the sandbox's record."""
        sent = self.sandbox.send_webhook(
            type=kind, user_id=self.user_id, url=self.app.webhook_url, **fields
        )
        assert sent["status"] == 200, sent
        return sent

    def redeliver(self, event: dict[str, Any], url: str | None = None) -> dict[str, Any]:
        return self.sandbox.send_webhook(
            redelivery_of=event["webhookEventId"], url=url or self.app.webhook_url
        )

    def replies(self) -> list[dict[str, Any]]:
        return [d for d in self.sandbox.deliveries(self.user_id) if d["endpoint"] == "reply"]

    def wait_reply(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The messages of the next reply (replies are sent after the webhook's 200)."""
        deadline = time.monotonic() + timeout
        while True:
            replies = self.replies()
            if len(replies) > self.seen:
                self.seen += 1
                return list(replies[self.seen - 1]["messages"])
            if time.monotonic() > deadline:
                raise AssertionError(f"no reply #{self.seen + 1} within {timeout}s")
            time.sleep(0.01)

    def no_more_replies(self, wait: float = 0.3) -> None:
        time.sleep(wait)
        assert len(self.replies()) == self.seen

    def follow(self, language: str = "日本語") -> list[dict[str, Any]]:
        """Add the account and answer the first question (the language, by its own name);
        returns the reply, which asks for the district."""
        self.send("follow")
        return self.tap(self.wait_reply(), language)

    def tap(self, messages: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
        """Tap the quick reply labelled `label` on the last message; returns the reply."""
        data = quick_reply_data(messages, label)
        self.send("postback", data=data)
        return self.wait_reply()


def quick_labels(messages: list[dict[str, Any]]) -> list[str]:
    items = messages[-1].get("quickReply", {}).get("items", [])
    return [item["action"]["label"] for item in items]


def quick_reply_data(messages: list[dict[str, Any]], label: str) -> str:
    for item in messages[-1].get("quickReply", {}).get("items", []):
        if item["action"]["label"] == label:
            return str(item["action"]["data"])
    raise AssertionError(f"no quick reply {label!r} in {quick_labels(messages)}")


@pytest.fixture
def make_user(sandbox: SandboxThread, app: ServedApp) -> Callable[[str], LineUser]:
    return lambda user_id: LineUser(sandbox, app, user_id)
