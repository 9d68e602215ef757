"""A local stand-in for JMA's Atom feed server: a feed, its telegrams, ETag/304 answers,
faults on demand, and a log of every request (to show each telegram is fetched once)."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from broadcaster.sandbox.testing import free_port

FEED_PATH = "/developer/xml/feed/extra.xml"


@dataclass
class FeedEntry:
    path: str
    title: str
    office: str
    body: bytes


@dataclass
class FeedServer:
    url: str = ""
    entries: list[FeedEntry] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    not_modified: int = 0
    # path -> HTTP status to answer instead (a fault), consumed one per request
    faults: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def feed_url(self) -> str:
        return self.url + FEED_PATH

    def add(self, name: str, title: str, body: bytes, office: str = "福岡管区気象台") -> str:
        path = f"/developer/xml/data/{name}.xml"
        with self.lock:
            self.entries.append(FeedEntry(path, title, office, body))
        return self.url + path

    def fail(self, path: str, *statuses: int) -> None:
        with self.lock:
            self.faults.setdefault(path, []).extend(statuses)

    def feed(self) -> bytes:
        items = "".join(
            f"""<entry><title>{e.title}</title><id>urn:uuid:{hashlib.md5(e.path.encode()).hexdigest()}</id>
<updated>2026-07-01T05:10:00Z</updated><author><name>{e.office}</name></author>
<link type="application/xml" href="{self.url}{e.path}"/>
<content type="text">【{e.title}】</content></entry>"""
            for e in reversed(self.entries)
        )
        return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" lang="ja">
<title>随時</title><subtitle>JMAXML publishing feed</subtitle>
<updated>2026-07-01T05:10:00Z</updated><id>urn:uuid:feed</id>
<link href="{self.feed_url}" rel="self"/>{items}</feed>""".encode()


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with server.lock:
                server.requests[self.path] += 1
                faults = server.faults.get(self.path)
                fault = faults.pop(0) if faults else None
            if fault is not None:
                self._answer(fault, b"fault")
                return
            if self.path == FEED_PATH:
                body = server.feed()
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    with server.lock:
                        server.not_modified += 1
                    self._answer(304, b"", etag=etag)
                    return
                self._answer(200, body, etag=etag)
                return
            for entry in list(server.entries):
                if entry.path == self.path:
                    self._answer(200, entry.body)
                    return
            self._answer(404, b"not found")

        def _answer(self, status: int, body: bytes, etag: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            if etag:
                self.send_header("ETag", etag)
            self.end_headers()
            if body:
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_feed() -> Iterator[FeedServer]:
    """A running server; always stopped on the way out."""
    server = FeedServer()
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(server))
    server.url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
