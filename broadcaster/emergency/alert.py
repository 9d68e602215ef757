"""One model for an alert whatever its feed (CAP 1.2 or JMA disaster XML), and safe parsing.

Alert XML comes from outside, so it is parsed with defusedxml with DTDs refused outright:
no entity expansion (billion laughs), no external entities (XXE). Size is checked before
parsing. Every refusal is an AlertError whose `str()` is one line a person can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
JMA_NS = "http://xml.kishou.go.jp/jmaxml1/"


class AlertError(Exception):
    """The document was refused; `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class AlertStatus(StrEnum):
    actual = "actual"
    # CAP Exercise/Test/System/Draft, JMA 訓練/試験: never a live send.
    exercise = "exercise"


class MessageType(StrEnum):
    alert = "alert"
    update = "update"
    cancel = "cancel"


@dataclass(frozen=True)
class Area:
    code: str
    name: str


@dataclass(frozen=True)
class ParsedAlert:
    source: Literal["cap", "jma"]
    identifier: str
    sender: str
    sent: datetime
    status: AlertStatus
    raw_status: str
    msg_type: MessageType
    # The thread this message belongs to: every update and cancel of one event shares it.
    thread_keys: tuple[str, ...]
    title: str
    text: str
    kind: str | None
    level: int | None
    areas: tuple[Area, ...]
    serial: int | None = None
    # All warnings of the thread were lifted (JMA 解除); not a cancellation of an error.
    lifted: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def parse_xml(data: bytes, max_bytes: int) -> Element:
    """The root element; AlertError 413 when too large, 422 when unsafe or malformed."""
    if len(data) > max_bytes:
        raise AlertError(f"alert document is {len(data)} bytes; the limit is {max_bytes}", 413)
    if not data.strip():
        raise AlertError("alert document is empty")
    declared = _DECLARED_ENCODING.search(data[:200])
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    if encoding.lower() not in ("utf-8", "utf8"):
        # expat reads no multi-byte encoding but UTF-8 (Shift_JIS made a 500); say so.
        raise AlertError(
            f"the alert document declares encoding {encoding!r}; only UTF-8 is accepted: "
            "convert it to UTF-8"
        )
    try:
        root: Element = fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise AlertError(
            f"unsafe XML refused ({type(exc).__name__}): DTDs and entities are not allowed"
        ) from None
    except ParseError as exc:
        raise AlertError(f"malformed XML: {exc}") from None
    except ValueError as exc:  # an encoding expat cannot read
        raise AlertError(f"unreadable XML: {exc}; send it as UTF-8") from None
    return root


def parse_alert(data: bytes, max_bytes: int) -> ParsedAlert:
    """Detect the feed by the root element's namespace and parse it."""
    from broadcaster.emergency import cap, jma

    root = parse_xml(data, max_bytes)
    if root.tag == f"{{{CAP_NS}}}alert":
        return cap.parse(root)
    if root.tag == f"{{{JMA_NS}}}Report":
        return jma.parse(root)
    raise AlertError(
        f"unsupported document {root.tag!r}: expected a CAP 1.2 <alert> or a JMA <Report>"
    )


def text_of(element: Element | None, path: str, ns: dict[str, str]) -> str:
    if element is None:
        return ""
    found = element.find(path, ns)
    return (found.text or "").strip() if found is not None else ""


def parse_datetime(raw: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise AlertError(f"{what} {raw!r} is not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        raise AlertError(f"{what} {raw!r} has no time zone offset")
    return value


KIND_WORDS: tuple[tuple[str, str], ...] = (
    ("内水", "内水氾濫"),
    ("土砂", "土砂災害"),
    ("高潮", "高潮"),
    ("津波", "津波"),
    ("洪水", "洪水"),
    ("氾濫", "洪水"),
    ("地震", "地震"),
    ("噴火", "火山現象"),
    ("火山", "火山現象"),
    ("火災", "大規模な火事"),
    ("火事", "大規模な火事"),
)


def kind_from_words(*texts: str) -> str | None:
    """The shelter disaster kind a free text names first (a prefill for staff to check)."""
    for text in texts:
        for word, kind in KIND_WORDS:
            if word in text:
                return kind
    return None
