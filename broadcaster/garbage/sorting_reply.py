"""The ごみ分別 answer: a resident sends an item's name (「電池」, 「ｽﾌﾟﾚｰ」) and is told its
category and notice by reply, in their language where the dictionary has it.

It answers text that no command or conversation step took (the webhook's TEXT_FALLBACKS),
once a dictionary is imported: an exact match gives the entry; otherwise the nearest entries
(each a quick reply that asks for it); otherwise 「見つかりません」 and whom to ask
(garbage.dictionary_contact). Long or multi-line messages are not item names and are left
to the webhook's help text.
"""

from __future__ import annotations

import threading
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from broadcaster.garbage.models import SortingItem
from broadcaster.garbage.phrases import phrase
from broadcaster.garbage.sorting import Dictionary, Entry, Lookup
from broadcaster.settings import Settings
from broadcaster.webhook_commands import TEXT_FALLBACKS
from segments.residents import Resident

MAX_QUERY_CHARS = 40
LINE_TEXT_LIMIT = 5000
QUICK_REPLY_LABEL_LIMIT = 20


class DictionaryCache:
    """The indexed dictionary, rebuilt only when an import replaced it (its rows' import id
    and count change), so a reply does not re-index a thousand entries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: tuple[Any, ...] | None = None
        self._dictionary = Dictionary([])

    def get(self, session: Session) -> Dictionary:
        # The engine is part of the version: two databases may hold import 1 of 5 items.
        version = (
            id(session.get_bind()),
            *session.execute(
                sa.select(sa.func.max(col(SortingItem.import_id)), sa.func.count())
                .select_from(SortingItem)
            ).one(),
        )
        with self._lock:
            if version != self._version:
                rows = session.exec(select(SortingItem).order_by(col(SortingItem.id))).all()
                self._dictionary = Dictionary(
                    [
                        Entry(row.name, row.category, row.notice, row.reading, row.translations)
                        for row in rows
                    ]
                )
                self._version = version
            return self._dictionary


def sorting_reply(
    session: Session,
    resident: Resident,
    text: str,
    now: datetime,
    *,
    settings: Settings,
    cache: DictionaryCache,
) -> list[dict[str, Any]] | None:
    """LINE messages answering `text` from the dictionary, or None when there is no
    dictionary or the text is not an item name."""
    del now
    query = text.strip()
    if not query or len(query) > MAX_QUERY_CHARS or "\n" in query:
        return None
    dictionary = cache.get(session)
    if not len(dictionary):
        return None
    return answer(dictionary.lookup(query), query, resident.language or "ja", settings)


def answer(found: Lookup, query: str, language: str, settings: Settings) -> list[dict[str, Any]]:
    """Pure: the reply for a lookup."""
    if found.exact:
        blocks = [_block(entry, language) for entry in found.exact]
        return [{"type": "text", "text": "\n\n".join(blocks)[:LINE_TEXT_LIMIT]}]
    if found.near:
        lines = [phrase("item_near", language, query=query)]
        for entry in found.near:
            own = entry.text(language)
            lines.append(f"・{own['name']}: {own['category']}")
        items = [
            {
                "type": "action",
                "action": {
                    "type": "message",
                    "label": entry.text(language)["name"][:QUICK_REPLY_LABEL_LIMIT],
                    "text": entry.name,
                },
            }
            for entry in found.near
        ]
        return [
            {
                "type": "text",
                "text": "\n".join(lines)[:LINE_TEXT_LIMIT],
                "quickReply": {"items": items},
            }
        ]
    contact = settings.garbage.dictionary_contact
    text = phrase("item_missing", language, query=query, contact=contact)
    return [{"type": "text", "text": text}]


def _block(entry: Entry, language: str) -> str:
    own = entry.text(language)
    head = phrase("item_found", language, name=own["name"], category=own["category"])
    return f"{head}\n{own['notice']}" if own["notice"] else head


def register(settings: Settings) -> None:
    """Answer item names in the webhook (after commands and the settings conversation)."""
    TEXT_FALLBACKS["garbage.sorting"] = partial(
        sorting_reply, settings=settings, cache=DictionaryCache()
    )
