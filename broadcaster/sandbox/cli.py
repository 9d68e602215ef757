"""`broadcaster sandbox`: run the LINE sandbox, and play a resident against a running one.

`broadcaster sandbox` alone serves the sandbox. `broadcaster sandbox resident …` sends one
signed webhook event through a running sandbox (the one `broadcaster serve` starts when no
LINE token is set), exactly as LINE would when a resident taps or types, and prints what the
service answered and what that resident has received so far.
"""

from __future__ import annotations

# Lazy imports: commands import what they use when they run, so that `broadcaster
# --help` and each command start in a fraction of a second (issue 17).
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from broadcaster.command import ConfigOption, fail, group, settings_or_exit

sandbox_app = group(
    "The LINE sandbox: run it, or play a resident against a running one.",
    invoke_without_command=True,
    no_args_is_help=False,
)
resident_app = group("Play a resident: befriend, choose, say, share a location, block.")
sandbox_app.add_typer(resident_app, name="resident")

REPLY_WAIT_SECONDS = 5.0
UserArg = Annotated[str, typer.Argument(help="the resident's LINE user id, e.g. U0123…")]


@sandbox_app.callback()
def sandbox(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="port (default: sandbox.port)")] = None,
    latency_ms: Annotated[int | None, typer.Option(help="ms added to every response")] = None,
    webhook_url: Annotated[str | None, typer.Option(help="where to send webhook events")] = None,
    record_file: Annotated[
        str | None, typer.Option(help="keep the record of deliveries in this JSON file")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run the LINE sandbox alone: a local Messaging API that records what residents got."""
    if ctx.invoked_subcommand is not None:
        return
    from broadcaster.sandbox.runner import run as run_sandbox
    from broadcaster.serve import sandbox_config

    settings = settings_or_exit(config)
    sandbox_settings = settings.sandbox
    cfg = sandbox_config(
        settings, latency_ms=latency_ms, webhook_url=webhook_url, record_file=record_file
    )
    where = f"http://{sandbox_settings.host}:{port or sandbox_settings.port}"
    typer.echo(f"LINE sandbox on {where}; residents and what they received: {where}/_sandbox",
               err=True)
    run_sandbox(cfg, sandbox_settings.host, port or sandbox_settings.port)


def _send(config: Path | None, event: dict[str, Any]) -> None:
    """Send one event through the running sandbox and show what the resident got back.

    The service answers the webhook at once and replies just after, so this waits (a few
    seconds at most) for the resident's record to grow.
    """
    import time

    import httpx

    settings = settings_or_exit(config)
    base = f"http://{settings.sandbox.host}:{settings.sandbox.port}"
    who = {"user_id": event["user_id"]}
    try:
        with httpx.Client(base_url=base, timeout=15.0) as client:
            before = len(client.post("/_sandbox/deliveries", json=who).json()["deliveries"])
            sent = client.post("/_sandbox/webhooks/send", json=event)
            deliveries: list[dict[str, Any]] = []
            deadline = time.monotonic() + REPLY_WAIT_SECONDS
            while sent.status_code == 200 and time.monotonic() < deadline:
                deliveries = client.post("/_sandbox/deliveries", json=who).json()["deliveries"]
                if len(deliveries) > before or event["type"] == "unfollow":
                    break
                time.sleep(0.1)
    except httpx.HTTPError as exc:
        fail(f"no sandbox answering at {base} ({type(exc).__name__}); start `make run` first")
    if sent.status_code != 200:
        fail(f"the sandbox refused the event: {sent.text}")
    result = sent.json()
    if result.get("error") or result.get("status") != 200:
        fail(f"the service did not take the event: {result.get('error') or result.get('status')}")
    typer.echo(f"{event['type']} sent; the service answered {result['status']}", err=True)
    for delivery in deliveries[before:]:
        typer.echo(f"received ({delivery['endpoint']}):", err=True)
        for message in delivery["messages"]:
            print(_describe(message))


def _describe(message: dict[str, Any]) -> str:
    """A LINE message as a person reads it: its text, and the buttons it offers."""
    text = message.get("text") or message.get("altText") or json.dumps(message)[:200]
    items = (message.get("quickReply") or {}).get("items", [])
    actions = [item["action"] for item in items if isinstance(item.get("action"), dict)]
    buttons = [
        f"[{action.get('label')}] → {action.get('data') or action.get('text')}"
        for action in actions
    ]
    return "\n".join([str(text), *buttons])


@resident_app.command("befriend")
def befriend(user_id: UserArg, config: ConfigOption = None) -> None:
    """Add the account as a friend (a follow event); the service starts its questions."""
    _send(config, {"type": "follow", "user_id": user_id})


@resident_app.command("choose")
def choose(
    user_id: UserArg,
    data: Annotated[str, typer.Argument(help="the postback data of the button tapped")],
    config: ConfigOption = None,
) -> None:
    """Tap a button: a postback with the data shown after → in the last message."""
    _send(config, {"type": "postback", "user_id": user_id, "data": data})


@resident_app.command("say")
def say(
    user_id: UserArg,
    text: Annotated[str, typer.Argument(help="e.g. ごみ, 配信設定, 配信停止")],
    config: ConfigOption = None,
) -> None:
    """Send a text message, as typed in the chat."""
    _send(config, {"type": "message", "user_id": user_id, "text": text})


@resident_app.command("location")
def location(
    user_id: UserArg,
    latitude: Annotated[float, typer.Argument()],
    longitude: Annotated[float, typer.Argument()],
    title: Annotated[str, typer.Option(help="the place's name")] = "現在地",
    config: ConfigOption = None,
) -> None:
    """Share a location (e.g. to be shown the nearest open shelter)."""
    _send(
        config,
        {
            "type": "message",
            "user_id": user_id,
            "location": {"title": title, "latitude": latitude, "longitude": longitude},
        },
    )


@resident_app.command("block")
def block(user_id: UserArg, config: ConfigOption = None) -> None:
    """Block the account (an unfollow event); the resident's choices are kept."""
    _send(config, {"type": "unfollow", "user_id": user_id})
