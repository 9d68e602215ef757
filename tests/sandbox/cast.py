"""The residents our sandbox tests send to, and how the SDK is pointed at a sandbox."""

from __future__ import annotations

from linebot.v3.messaging import Configuration

from broadcaster.sandbox import SandboxConfig

TOKEN = SandboxConfig.channel_access_token

# User ids are LINE-shaped: "U" + 32 hex.
HANAKO = "U" + "a1" * 16  # a parent in 中央地区
KENJI = "U" + "b2" * 16  # a senior in 山間地区
EMMA = "U" + "c3" * 16  # a foreign resident who reads English


def sdk_configuration(url: str, token: str = TOKEN) -> Configuration:
    return Configuration(host=url, access_token=token)
