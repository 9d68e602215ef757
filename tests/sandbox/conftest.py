"""Sandbox fixtures. Kept thin: the logic lives in broadcaster.sandbox.testing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from linebot.v3.messaging import ApiClient, MessagingApi

from broadcaster.sandbox import SandboxConfig
from broadcaster.sandbox.testing import SandboxThread
from tests.sandbox.cast import sdk_configuration


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig()) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(shared_sandbox: SandboxThread) -> SandboxThread:
    """The session's sandbox, with records, keys, quota and faults cleared."""
    shared_sandbox.reset()
    shared_sandbox.clear_faults()
    return shared_sandbox


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxThread]]:
    """Start a dedicated sandbox with SandboxConfig(**changes); stopped after the test."""
    started: list[SandboxThread] = []

    def make(**changes: Any) -> SandboxThread:
        handle = SandboxThread(SandboxConfig(**changes)).start()
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.stop()


@pytest.fixture
def line_api(sandbox: SandboxThread) -> Iterator[MessagingApi]:
    """The real sync SDK client pointed at the shared sandbox."""
    with ApiClient(sdk_configuration(sandbox.url)) as client:
        yield MessagingApi(client)


@pytest.fixture
def webhook_receiver() -> Iterator[str]:
    """URL of a tiny stdlib HTTP server that answers 200 to every POST."""
    from tests.sandbox.receiver import WebhookReceiver

    with WebhookReceiver() as receiver:
        yield receiver.url
