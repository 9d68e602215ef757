"""The LINE sandbox: a local HTTP server speaking the Messaging API as LINE documents it.

LINE side (Bearer token, LINE's status codes and error bodies, X-Line-Request-Id):
`POST /v2/bot/message/{push,multicast,broadcast,narrowcast,reply}`,
`GET /v2/bot/message/quota`, `GET /v2/bot/message/quota/consumption`,
`POST /v2/bot/message/validate/{push,multicast,broadcast,narrowcast,reply}`,
`GET /v2/bot/message/progress/narrowcast?requestId=`.

Control side (no auth; a sandbox is a local tool): `GET|POST /_sandbox/faults`,
`POST /_sandbox/deliveries {"user_id"}`, `GET /_sandbox/totals`, `GET /_sandbox/duplicates`,
`GET /_sandbox/requests?status=&endpoint=`, `POST /_sandbox/reset`,
`POST /_sandbox/webhooks/send`, `GET /_sandbox/health`.

Run it with `python -m broadcaster.sandbox --port N` or `runner.run(config, host, port)`;
in tests use `testing.SandboxThread` / `testing.SandboxProcess`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from broadcaster.sandbox.config import FaultConfig, SandboxConfig
    from broadcaster.sandbox.server import create_sandbox_app

__all__ = ["FaultConfig", "SandboxConfig", "create_sandbox_app"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the server imports the LINE SDK's models (~1.5 s), and
    # `broadcaster --help` imports `broadcaster.sandbox.cli` through this package.
    if name in ("FaultConfig", "SandboxConfig"):
        from broadcaster.sandbox import config

        return getattr(config, name)
    if name == "create_sandbox_app":
        # Loaded on first use: importing the sandbox package must not load the SDK (issue 17).
        from broadcaster.sandbox.server import create_sandbox_app

        return create_sandbox_app
    raise AttributeError(f"module 'broadcaster.sandbox' has no attribute {name!r}")

__all__ = ["FaultConfig", "SandboxConfig", "create_sandbox_app"]
