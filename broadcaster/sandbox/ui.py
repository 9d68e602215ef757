"""`/_sandbox`: a page for a person playing residents in a browser.

It lists every resident the sandbox knows (friends, and anyone who was sent something)
with the latest messages each received, and offers what a resident can do in LINE:
befriend, tap a quick-reply button, type a message, share a location, block. Each action
is a form posted to `/_sandbox/ui` (user ids travel in the body, never in a URL) that sends
the same signed webhook event `POST /_sandbox/webhooks/send` does, then comes back here.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from broadcaster.sandbox.state import SandboxState
from broadcaster.sandbox.webhooks import WebhookRequestError

SHOWN_PER_RESIDENT = 5
REPLY_WAIT_SECONDS = 3.0
STYLE = """
body{font-family:sans-serif;margin:1.5em;max-width:60em}
section{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;margin:.8em 0}
.msg{background:#eef7ee;border-radius:6px;padding:.4em .6em;margin:.3em 0;white-space:pre-wrap}
form{display:inline-block;margin:.2em .4em .2em 0}
.note{color:#555;font-size:.9em}
"""


def _text_of(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("altText") or f"({message.get('type')})")


def _buttons(user_id: str, message: dict[str, Any]) -> str:
    """The message's quick-reply buttons, each a form that taps it."""
    out = []
    for item in (message.get("quickReply") or {}).get("items", []):
        action = item.get("action") or {}
        label = escape(str(action.get("label", "?")))
        if action.get("type") == "postback":
            out.append(_form(user_id, "choose", label, data=str(action.get("data", ""))))
        elif action.get("type") == "message":
            out.append(_form(user_id, "say", label, text=str(action.get("text", ""))))
    return "".join(out)


def _form(user_id: str, action: str, label: str, **hidden: str) -> str:
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in hidden.items()
    )
    return (
        f'<form method="post" action="/_sandbox/ui"><input type="hidden" name="user_id" '
        f'value="{escape(user_id)}"><input type="hidden" name="action" value="{action}">'
        f"{fields}<button>{label}</button></form>"
    )


def _resident(state: SandboxState, user_id: str) -> str:
    received = state.records.deliveries(user_id)
    friend = user_id in state.residents.followers
    parts = [
        f"<section><h3>{escape(user_id)} {'(friend)' if friend else '(not a friend)'}</h3>",
        f'<p class="note">{len(received)} message request(s) received</p>',
    ]
    for delivery in received[-SHOWN_PER_RESIDENT:]:
        at = datetime.fromtimestamp(delivery["at"], UTC).isoformat(timespec="seconds")
        for message in delivery["messages"]:
            parts.append(
                f'<div class="msg"><span class="note">{escape(delivery["endpoint"])} {at}'
                f"</span>\n{escape(_text_of(message))}</div>{_buttons(user_id, message)}"
            )
    parts.append(_form(user_id, "block" if friend else "befriend",
                       "ブロック (block)" if friend else "友だち追加 (befriend)"))
    parts.append(
        f'<form method="post" action="/_sandbox/ui"><input type="hidden" name="user_id" '
        f'value="{escape(user_id)}"><input type="hidden" name="action" value="say">'
        '<input name="text" placeholder="ごみ / 配信設定 / 配信停止">'
        "<button>送信 (say)</button></form>"
    )
    parts.append(
        f'<form method="post" action="/_sandbox/ui"><input type="hidden" name="user_id" '
        f'value="{escape(user_id)}"><input type="hidden" name="action" value="location">'
        '<input name="latitude" size="8" value="33.5902"><input name="longitude" size="9" '
        'value="130.4017"><button>位置情報 (share location)</button></form></section>'
    )
    return "".join(parts)


def _page(state: SandboxState, notice: str) -> str:
    known = list(dict.fromkeys([*state.residents.followers, *state.records.users()]))
    new_id = "U" + secrets.token_hex(16)
    kept = (f"kept in {escape(state.config.record_file)}" if state.config.record_file
            else "forgotten when the sandbox stops (set sandbox.record_file to keep it)")
    body = [
        "<!doctype html><html lang='ja'><meta charset='utf-8'><title>LINE sandbox</title>",
        f"<style>{STYLE}</style><h1>LINE sandbox: residents</h1>",
        f'<p class="note">{len(known)} resident(s); the record is {kept}. Webhook events go '
        f"to {escape(state.config.webhook_url or '(no webhook URL set)')}.</p>",
        f"<p><b>{escape(notice)}</b></p>" if notice else "",
        _form(new_id, "befriend", f"新しい住民として友だち追加 ({new_id[:9]}…)"),
        *(_resident(state, user_id) for user_id in known),
        "</html>",
    ]
    return "".join(body)


def ui_routes(state: SandboxState) -> list[Route]:
    async def page(request: Request) -> Response:
        return HTMLResponse(_page(state, request.query_params.get("notice", "")))

    async def act(request: Request) -> Response:
        form = await request.form()
        action = str(form.get("action", ""))
        event: dict[str, Any] = {"user_id": str(form.get("user_id", ""))}
        if action == "befriend":
            event["type"] = "follow"
        elif action == "block":
            event["type"] = "unfollow"
        elif action == "choose":
            event |= {"type": "postback", "data": str(form.get("data", ""))}
        elif action == "say":
            event |= {"type": "message", "text": str(form.get("text", ""))}
        elif action == "location":
            try:
                where = {k: float(str(form.get(k, ""))) for k in ("latitude", "longitude")}
            except ValueError:
                return _back("latitude and longitude must be numbers")
            event |= {"type": "message", "location": {"title": "現在地", **where}}
        else:
            return _back(f"unknown action {action!r}")
        url = state.config.webhook_url
        if not url:
            return _back("no webhook URL configured: start the sandbox with the service")
        try:
            built = state.residents.build_event(event, time.time())
        except WebhookRequestError as exc:
            return _back(str(exc))
        state.note_event(built)
        before = len(state.records.deliveries(event["user_id"]))
        result = await state.residents.deliver(url, state.residents.payload([built]))
        # The service replies just after answering the webhook: show the page with it.
        deadline = time.monotonic() + REPLY_WAIT_SECONDS
        while built["type"] != "unfollow" and time.monotonic() < deadline:
            if len(state.records.deliveries(event["user_id"])) > before:
                break
            await asyncio.sleep(0.05)
        return _back(f"{built['type']} sent; the service answered "
                     f"{result.status if result.status is not None else result.error}")

    return [
        Route("/_sandbox", page, methods=["GET"]),
        Route("/_sandbox/ui", act, methods=["POST"]),
    ]


def _back(notice: str) -> Response:
    from urllib.parse import urlencode

    return RedirectResponse(f"/_sandbox?{urlencode({'notice': notice[:300]})}", status_code=303)
