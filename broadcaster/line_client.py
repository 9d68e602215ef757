"""How every part of the service reaches LINE (or the sandbox standing in for it)."""

from __future__ import annotations

from linebot.v3.messaging import Configuration

from broadcaster.settings import LineSettings


def configuration(line: LineSettings) -> Configuration:
    """SDK configuration for the configured host and token.

    urllib3's own retries are switched off: retrying is ours to do, with retry keys.
    """
    config = Configuration(
        host=line.api_base_url.rstrip("/"),
        access_token=line.channel_access_token.get_secret_value(),
    )
    config.retries = 0
    return config
