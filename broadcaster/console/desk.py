"""What the disaster desk's pages share (/console/emergency: orders, the alert inbox,
shelters): who may use them, their labels, the per-language texts a form posts, how an
API route's refusal becomes the desk's refusal, and the page render with the desk's context.

Every change the desk makes goes through the API's own route functions
(`broadcaster.api.emergencies`, `broadcaster.api.emergency_drafts`,
`broadcaster.api.shelters`), called with the signed-in person's `Actor`: the same pydantic
model validates the body and the same domain code does the work, so the console can send
nothing the API would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session, col, select

from broadcaster.console import api_calls
from broadcaster.console.notice_words import language_name
from broadcaster.console.web import Staff, render, requires
from broadcaster.departments import Role
from broadcaster.emergency.order_requests import LEVEL_LABELS, level_label
from broadcaster.emergency.shelters import DISASTER_KINDS, Shelter
from broadcaster.settings import Settings
from segments.catalog import STAFF_LANGUAGE_NAMES

Desk = Annotated[Staff, Depends(requires(Role.disaster_desk, Role.admin))]
BASE = "/console/emergency"
JAPANESE = ("ja", "easy-ja")
DELIVERY_LABELS = {
    "queued": "送信待ち",
    "accepted": "LINE受付済",
    "failed": "失敗",
    "unknown": "結果不明(要確認)",
    "skipped_cap": "上限超過で省略",
    "digested": "まとめ配信へ",
}
STATUS_LABELS = {
    "scheduled": "送信準備中",
    "sending": "配信中",
    "sent": "配信完了",
    "partially_failed": "一部失敗",
    "failed": "失敗(配信できず)",
    "cancelled": "取消",
    "expired": "期限切れ",
    "held": "保留",
}
# The parts of an order a refusal can name, with the desk's own Japanese message (the
# domain's messages are for the API's developers).
FIELD_CODES = {
    "level": "console.emergency.level",
    "districts": "console.emergency.districts",
    "kind": "console.emergency.kind",
    "text": "console.emergency.text",
    "texts": "console.emergency.texts",
}
TEXTS = "texts."
T = TypeVar("T")


def texts_of(form: Mapping[str, Any]) -> dict[str, str]:
    """The per-language texts a desk form posts (`texts.en`, ...), blanks left out."""
    texts = {
        str(name)[len(TEXTS) :]: str(value).strip()
        for name, value in form.items()
        if str(name).startswith(TEXTS)
    }
    return {code: value for code, value in texts.items() if value}


def attempt(session: Session, call: Callable[[], T]) -> T | dict[str, Any]:
    """`api_calls.attempt` with the desk's own message per order field."""
    return api_calls.attempt(session, call, FIELD_CODES)


def languages(settings: Settings) -> list[tuple[str, str]]:
    """The languages a desk form offers a text for (Japanese is the text itself)."""
    return [
        (code, language_name(code)) for code in settings.residents.languages if code not in JAPANESE
    ]


def page(
    request: Request, staff: Staff, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A desk page: `render` with the labels and choices every desk template reads."""
    settings: Settings = request.app.state.settings
    return render(
        request,
        name,
        staff,
        status_code=status_code,
        level_labels=LEVEL_LABELS,
        level_label=level_label,
        kinds=DISASTER_KINDS,
        districts=settings.residents.districts,
        languages=languages(settings),
        language_labels=STAFF_LANGUAGE_NAMES,
        delivery_labels=DELIVERY_LABELS,
        status_labels=STATUS_LABELS,
        tab=name,
        **context,
    )


def open_counts(session: Session, kind: str | None = None) -> dict[str, int]:
    """Open shelters per district (for `kind` when given); a few hundred rows at most."""
    counts: dict[str, int] = {}
    for district, kinds in session.exec(
        select(Shelter.district, Shelter.kinds).where(col(Shelter.is_open).is_(True))
    ).all():
        if kind is None or kind in kinds:
            counts[district] = counts.get(district, 0) + 1
    return counts
