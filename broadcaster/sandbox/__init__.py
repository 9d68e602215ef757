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

from broadcaster.sandbox.config import FaultConfig, SandboxConfig
from broadcaster.sandbox.server import create_sandbox_app

__all__ = ["FaultConfig", "SandboxConfig", "create_sandbox_app"]
