"""Request bodies are cut off at their route's limit while they stream, before the token is
checked or anything parsed, against a real uvicorn server and a client that streams."""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from broadcaster.settings import Settings
from tests.conftest import auth
from tests.webhook.conftest import ServedApp

CHUNK = 64 * 1024
MB = 1024 * 1024


@dataclass
class Outcome:
    status: int
    body: dict[str, object]
    sent: int  # body bytes the client managed to send before the answer came
    after_limit: float  # seconds from passing the limit (client side) to the answer


def stream_post(
    url: str, path: str, total: int, limit: int, headers: dict[str, str], declare: bool
) -> Outcome:
    """POST `total` bytes in chunks, stopping the moment the server answers."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    try:
        lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {total}" if declare else "Transfer-Encoding: chunked")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sock.setblocking(False)
        chunk = b"{" + b" " * (CHUNK - 1)
        sent = 0
        crossed = time.monotonic() if declare else None
        answer = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sent < total else [], [], 1)
            if readable:
                data = sock.recv(65536)
                answer += data
                if not data or b"\r\n\r\n" in answer:
                    break
                continue
            if writable:
                piece = chunk if declare else b"%x\r\n%s\r\n" % (len(chunk), chunk)
                try:
                    sock.send(piece)
                except (BlockingIOError, ConnectionError):
                    continue
                sent += len(chunk)
                if crossed is None and sent > limit:
                    crossed = time.monotonic()
        answered = time.monotonic()
        sock.setblocking(True)
        sock.settimeout(5)
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, _, rest = answer.partition(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        while len(rest) < length:
            more = sock.recv(65536)
            if not more:
                break
            rest += more
        status = int(head.split(b" ")[1])
        assert crossed is not None, "the server answered before the limit was reached"
        return Outcome(status, json.loads(rest[:length]), sent, answered - crossed)
    finally:
        sock.close()


def test_json_body_without_token_is_cut_off_at_its_limit(
    served: ServedApp, settings: Settings, counts
) -> None:
    before = counts()
    limit = settings.limits.json_body_bytes
    outcome = stream_post(served.url, "/api/v1/broadcasts", 200 * MB, limit, {}, declare=False)
    assert outcome.status == 413  # not 401: the body is refused before the token is looked at
    assert outcome.body["code"] == "body.too_large"
    assert outcome.sent < limit + 8 * MB  # the limit plus what the sockets buffer
    assert outcome.after_limit < 0.1
    assert counts() == before


def test_declared_length_over_the_limit_is_refused_before_reading(
    served: ServedApp, settings: Settings, tokens: dict[str, str], counts
) -> None:
    before = counts()
    for path, token in (
        ("/api/v1/broadcasts", tokens["子育て支援課"]),
        ("/api/v1/calendars/A", tokens["環境課"]),
        ("/api/v1/residents/import", tokens["情報政策課"]),
        ("/line/webhook", ""),
    ):
        headers = {"Authorization": f"Bearer {token}", "x-line-signature": "forged"}
        outcome = stream_post(served.url, path, 200 * MB, 0, headers, declare=True)
        assert outcome.status == 413, path
        assert outcome.after_limit < 0.1, path
        assert outcome.sent < 8 * MB, path
    assert counts() == before


def test_each_upload_kind_has_its_own_limit(
    served: ServedApp, settings: Settings, tokens: dict[str, str]
) -> None:
    """A 3 MB CSV is over the JSON limit but within the residents import's: it gets past the
    limit (and is refused as a broken upload), while 3 MB of JSON is not."""
    headers = {**auth(tokens["情報政策課"]), "Content-Type": "application/json"}
    json_outcome = stream_post(served.url, "/api/v1/broadcasts", 3 * MB, 0, headers, True)
    assert json_outcome.status == 413
    assert settings.limits.residents_csv_bytes > 3 * MB > settings.limits.json_body_bytes
    upload = {**auth(tokens["情報政策課"]), "Content-Type": "multipart/form-data; boundary=x"}
    csv_outcome = stream_post(served.url, "/api/v1/residents/import", 3 * MB, 0, upload, True)
    # Past the limit, then refused for what it is: not a multipart upload.
    assert csv_outcome.status == 400 and csv_outcome.body["code"] == "http.400"


def test_the_refusal_is_a_problem_document_in_the_callers_language(
    served: ServedApp,
) -> None:
    ja = stream_post(served.url, "/api/v1/broadcasts", 2 * MB, 0, {}, True)
    en = stream_post(served.url, "/api/v1/broadcasts", 2 * MB, 0, {"Accept-Language": "en"}, True)
    assert ja.body["title"] == "大きすぎます" and "上限" in str(ja.body["detail"])
    assert en.body["title"] == "Too large" and "limit" in str(en.body["detail"])
    assert ja.body["status"] == en.body["status"] == 413
