"""How every part of the service reaches LINE (or the sandbox standing in for it)."""

from __future__ import annotations

from typing import Any

from linebot.v3.messaging import ApiClient, Configuration

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


LINE_DATA_HOST = "https://api-data.line.me"


class DataHostClient(ApiClient):
    """An SDK client for LINE's content host (rich-menu images).

    The SDK's generated MessagingApiBlob sends every call to https://api-data.line.me
    whatever the configuration's host; this client sends them to `line.data_base_url`
    instead (the same URL for a real channel, the sandbox otherwise).
    """

    def __init__(self, line: LineSettings) -> None:
        super().__init__(configuration(line))
        self.data_host = line.data_base_url.rstrip("/")

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_host") == LINE_DATA_HOST:
            kwargs["_host"] = self.data_host
        return super().call_api(*args, **kwargs)
