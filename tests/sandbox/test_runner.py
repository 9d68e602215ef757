"""The command line and the out-of-process handle."""

from __future__ import annotations

import httpx
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    MessagingApi,
    MulticastRequest,
    TextMessage,
)

from broadcaster.sandbox import FaultConfig, SandboxConfig
from broadcaster.sandbox.runner import parse_args
from broadcaster.sandbox.testing import SandboxProcess, config_args
from tests.sandbox.cast import HANAKO, sdk_configuration


def test_command_line_builds_the_config() -> None:
    config, host, port = parse_args([
        "--port", "9001", "--token", "t", "--secret", "s", "--webhook-url", "http://w",
        "--delay-ms", "20", "--multicast-rate", "150", "--broadcast-rate", "60/3600",
        "--monthly-quota", "5000", "--fault-500", "0.1", "--script", "500,ok,drop",
    ])
    assert (host, port) == ("127.0.0.1", 9001)
    assert config.channel_access_token == "t" and config.channel_secret == "s"
    assert config.webhook_url == "http://w" and config.delay_ms == 20
    assert config.rate_for("multicast") == 150
    assert config.rate_for("broadcast") == 60 / 3600
    assert config.rate_for("push") == 2000
    assert config.monthly_quota == 5000
    assert config.faults.error_500 == 0.1 and config.faults.script == ["500", "ok", "drop"]


def test_config_round_trips_through_the_command_line() -> None:
    config = SandboxConfig(channel_access_token="t", rate_limits={"multicast": 7.5},
                           bucket_capacity={"multicast": 2}, monthly_quota=9, delay_ms=3,
                           faults=FaultConfig(drop=0.2, script=["429"]), followers=[HANAKO])
    parsed, _, _ = parse_args(config_args(config))
    assert parsed.rate_limits == {"multicast": 7.5}
    assert parsed.bucket_capacity == {"multicast": 2}
    assert (parsed.monthly_quota, parsed.delay_ms, parsed.followers) == (9, 3, [HANAKO])
    assert parsed.faults == config.faults


def test_a_sandbox_process_serves_and_stops() -> None:
    config = SandboxConfig(faults=FaultConfig(script=["500"]))
    with SandboxProcess(config) as sandbox:
        with ApiClient(sdk_configuration(sandbox.url)) as client:
            api = MessagingApi(client)
            batch = MulticastRequest(to=[HANAKO], messages=[TextMessage(text="x")])
            try:
                api.multicast(batch)
                raise AssertionError("the scripted 500 did not happen")
            except ApiException as exc:
                assert exc.status == 500
            api.multicast(batch)
        assert len(sandbox.deliveries(HANAKO)) == 1
        process = sandbox.process
        assert process is not None
    assert process.poll() is not None
    try:
        httpx.get(f"{sandbox.url}/_sandbox/health", timeout=0.5)
        raise AssertionError("still answering after stop()")
    except httpx.HTTPError:
        pass
