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
from typing import TYPE_CHECKING, Any, Literal
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from broadcaster.errors import FeatureRefusal

if TYPE_CHECKING:
    from collections.abc import Sequence

    from broadcaster.settings import CapRule

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
JMA_NS = "http://xml.kishou.go.jp/jmaxml1/"


class AlertError(FeatureRefusal):
    """The document was refused; `status` is the HTTP status the API answers with, `code`
    and `params` word the refusal for staff (broadcaster.catalog), `str()` is the English."""

    def __init__(
        self, message: str, status: int = 422, *, code: str = "alert.refused", **params: Any
    ) -> None:
        super().__init__(message, code, path="document", **params)
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
class Entry:
    """One area's warning in a JMA report: what it is, whether it is in force, and the
    thread (report type + area + kind) that follows it across reports without EventID."""

    area: Area
    name: str
    kind: str | None
    level: int | None
    active: bool
    thread: str


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
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Per-area warnings (JMA): the draft is made from those in our areas only.
    entries: tuple[Entry, ...] = ()
    # A notice for the desk, not a proposed order (CAP rule "information", 記録的短時間大雨情報).
    information: bool = False
    # Set when the document is understood but is nothing a municipality acts on.
    not_acted_on: str | None = None
    # Control/Title (JMA) or event (CAP): what the desk's list shows.
    report_type: str = ""


DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def check_utf8(data: bytes) -> None:
    """JMA and CAP feeds are UTF-8; anything else is refused rather than guessed at."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise AlertError(
            "alert document is UTF-16; only UTF-8 is accepted",
            code="alert.encoding",
            encoding="UTF-16",
        )
    declared = DECLARED_ENCODING.match(data[:200])
    if declared and declared.group(1).decode().lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise AlertError(
            f"alert document declares encoding {declared.group(1).decode()}; "
            "only UTF-8 is accepted (JMA and CAP feeds are UTF-8)",
            code="alert.encoding",
            encoding=declared.group(1).decode(),
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AlertError(
            f"alert document is not valid UTF-8 (byte {exc.start}); only UTF-8 is accepted",
            code="alert.not_utf8",
            byte=exc.start,
        ) from None


_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def parse_xml(data: bytes, max_bytes: int) -> Element:
    """The root element; AlertError 413 when too large, 422 when not UTF-8, unsafe or
    malformed."""
    if len(data) > max_bytes:
        raise AlertError(
            f"alert document is {len(data)} bytes; the limit is {max_bytes}",
            413,
            code="alert.too_large",
            size=len(data),
            limit=max_bytes,
        )
    if not data.strip():
        raise AlertError("alert document is empty", code="alert.empty")
    check_utf8(data)
    try:
        root: Element = fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise AlertError(
            f"unsafe XML refused ({type(exc).__name__}): DTDs and entities are not allowed",
            code="alert.unsafe_xml",
            problem=type(exc).__name__,
        ) from None
    except ParseError as exc:
        raise AlertError(
            f"malformed XML: {exc}", code="alert.malformed_xml", problem=str(exc)
        ) from None
    except ValueError as exc:  # an encoding expat cannot read
        raise AlertError(
            f"unreadable XML: {exc}; send it as UTF-8",
            code="alert.unreadable_xml",
            problem=str(exc),
        ) from None
    return root


def parse_alert(
    data: bytes, max_bytes: int, cap_rules: Sequence[CapRule] | None = None
) -> ParsedAlert:
    """Detect the feed by the root element's namespace and parse it; CAP is mapped to a
    level with `cap_rules` (the shipped table when None)."""
    # cap and jma build this module's ParsedAlert: imported here, they may import it.
    from broadcaster.emergency import cap, jma

    root = parse_xml(data, max_bytes)
    if root.tag == f"{{{CAP_NS}}}alert":
        return cap.parse(root, cap.DEFAULT_RULES if cap_rules is None else cap_rules)
    if root.tag == f"{{{JMA_NS}}}Report":
        return jma.parse(root)
    raise AlertError(
        f"unsupported document {root.tag!r}: expected a CAP 1.2 <alert> or a JMA <Report>",
        code="alert.unsupported",
        tag=root.tag,
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
        raise AlertError(
            f"{what} {raw!r} is not an ISO 8601 date-time",
            code="alert.bad_datetime",
            element=what,
            value=raw,
        ) from None
    if value.tzinfo is None:
        raise AlertError(
            f"{what} {raw!r} has no time zone offset",
            code="alert.no_timezone",
            element=what,
            value=raw,
        )
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
