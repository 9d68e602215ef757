"""The city's sorting dictionary (品目 -> 分別区分): import it, and find what a resident means.

Two layouts are read, told apart by their header:

- 5374 `target.csv`: ``label,name,notice,furigana`` (older forks say ``type`` for label);
- a plain CSV of ``品目,区分,注意`` (ふりがな optional), as cities publish their 分別辞典.

A column ``<column>.<language>`` (``品目.en``, ``区分.en``, ``name.zh``, …) gives that
language's text for the row, so a resident reading English is answered in English where the
dictionary has it, in Japanese otherwise.

Matching is done on a key that makes the ways residents type one word equal: NFKC (ｽﾌﾟﾚｰ
-> スプレー, full-width letters), katakana -> hiragana (jaconv), small kana -> their large form
(ぁ -> あ, by Unicode character names rather than a hand table), no long-vowel marks, spaces or
punctuation. Nearest matches are ranked by rapidfuzz. Pure except `import_dictionary`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jaconv
import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlmodel import Session, col

from broadcaster import audit
from broadcaster.garbage.data5374 import read_csv
from broadcaster.garbage.days import CalendarError
from broadcaster.garbage.models import CalendarImport, SortingItem

# Header spellings of each field (after NFKC, lower-cased).
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "品目", "品名", "品目名", "ごみの種類"),
    "category": ("label", "type", "区分", "分別区分", "分別", "分類", "出し方区分"),
    "notice": ("notice", "注意", "注意事項", "備考", "出し方", "出し方のポイント"),
    "reading": ("furigana", "ふりがな", "よみがな", "読み", "よみ", "フリガナ"),
}
MAX_SUGGESTIONS = 3
# Below this similarity (0-100) a dictionary entry is not offered as "near".
NEAR_SCORE = 60.0
_QUESTION = re.compile(
    r"(の(捨て方|すてかた|出し方|だしかた|分別|分け方|わけかた)(は|を教えて(ください)?)?"
    r"|(は|って)(何|なに|なん)(ごみ|ゴミ)(ですか)?|(は|って)どう(やって)?(捨て|すて)(る|ます)(の)?(か)?)"
    r"[?？!！。]*$"
)


def match_key(text: str) -> str:
    """The form two spellings of one word share: 「ｽﾌﾟﾚｰ缶」 and 「すぷれ缶」 -> 「すぷれ缶」."""
    text = jaconv.kata2hira(unicodedata.normalize("NFKC", text).lower())
    kept: list[str] = []
    for char in text:
        if char == "ー" or unicodedata.category(char)[0] in "PZS":
            continue
        kept.append(_large(char))
    return "".join(kept)


def _large(char: str) -> str:
    name = unicodedata.name(char, "")
    if " SMALL " not in name:
        return char
    try:
        return unicodedata.lookup(name.replace(" SMALL ", " "))
    except KeyError:
        return char


def query_text(message: str) -> str:
    """What the resident asks about: 「電池の捨て方は？」 -> 「電池」."""
    text = unicodedata.normalize("NFKC", message).strip()
    return _QUESTION.sub("", text).strip() or text


@dataclass(frozen=True)
class Entry:
    """One dictionary row as the reply needs it."""

    name: str
    category: str
    notice: str
    reading: str = ""
    translations: dict[str, dict[str, str]] = field(default_factory=dict)

    def text(self, language: str) -> dict[str, str]:
        """name, category, notice in `language` where the dictionary has them."""
        own = self.translations.get(language, {})
        return {
            "name": own.get("name") or self.name,
            "category": own.get("category") or self.category,
            "notice": own.get("notice") or self.notice,
        }


@dataclass(frozen=True)
class Lookup:
    """`exact`: entries whose name (or reading) is what was asked; otherwise `near`."""

    exact: list[Entry]
    near: list[Entry]


class Dictionary:
    """The entries indexed by match key (names, readings and translated names)."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = list(entries)
        self._exact: dict[str, list[int]] = {}
        self._keys: list[str] = []
        self._owners: list[int] = []
        for index, entry in enumerate(self.entries):
            names = [entry.name, entry.reading]
            names += [own.get("name", "") for own in entry.translations.values()]
            for key in dict.fromkeys(match_key(name) for name in names if name):
                if not key:
                    continue
                self._exact.setdefault(key, []).append(index)
                self._keys.append(key)
                self._owners.append(index)

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, message: str) -> Lookup:
        key = match_key(query_text(message))
        if not key:
            return Lookup([], [])
        exact = self._exact.get(key)
        if exact:
            return Lookup([self.entries[i] for i in exact[:MAX_SUGGESTIONS]], [])
        scored: dict[int, float] = {}
        for owner, key_found in zip(self._owners, self._keys, strict=True):
            if len(key) >= 2 and (key in key_found or (len(key_found) >= 2 and key_found in key)):
                # 「すぷれ」 is in 「すぷれかん」: closer than any edit-distance guess.
                scored[owner] = max(scored.get(owner, 0), 100.0 + len(key_found) * -0.01)
        for _, score, position in process.extract(
            key, self._keys, scorer=fuzz.ratio, limit=10, score_cutoff=NEAR_SCORE
        ):
            owner = self._owners[position]
            scored[owner] = max(scored.get(owner, 0), float(score))
        best = sorted(scored, key=lambda i: (-scored[i], self.entries[i].name))
        return Lookup([], [self.entries[i] for i in best[:MAX_SUGGESTIONS]])


def parse_dictionary(data: bytes) -> tuple[list[Entry], list[str]]:
    """Entries and warnings from a target.csv or 品目,区分,注意 CSV. Raises CalendarError when
    the header names no item and category column."""
    rows = read_csv(data, "dictionary", nfkc=False)
    if not rows:
        raise CalendarError("the dictionary is empty", code="calendar.dictionary_empty")
    header = [unicodedata.normalize("NFKC", cell).strip().lower() for cell in rows[0]]
    columns: dict[tuple[str, str], int] = {}  # (field, language or "") -> index
    for index, title in enumerate(header):
        base, _, language = title.partition(".")
        for name, spellings in COLUMNS.items():
            if base in spellings:
                columns.setdefault((name, language), index)
    if ("name", "") not in columns or ("category", "") not in columns:
        raise CalendarError(
            "the dictionary needs a header naming the item and its category: "
            "label,name,notice,furigana (5374 target.csv) or 品目,区分,注意 "
            f"(got: {','.join(rows[0])})",
            code="calendar.dictionary_header",
            got=",".join(rows[0]),
        )
    languages = sorted({language for _, language in columns if language})
    entries: list[Entry] = []
    warnings: list[str] = []
    seen: set[tuple[str, str]] = set()
    for number, row in enumerate(rows[1:], start=2):

        def cell(name: str, language: str = "", row: list[str] = row) -> str:
            index = columns.get((name, language))
            return row[index].strip() if index is not None and index < len(row) else ""

        name, category = cell("name"), cell("category")
        if not name or not category:
            warnings.append(f"line {number}: no item name or category; skipped")
            continue
        if (match_key(name), category) in seen:
            warnings.append(f"line {number}: {name} ({category}) is listed twice; kept the first")
            continue
        seen.add((match_key(name), category))
        translations = {
            language: {
                key: value
                for key in ("name", "category", "notice")
                if (value := cell(key, language))
            }
            for language in languages
        }
        entries.append(
            Entry(
                name=name[:200],
                category=category[:100],
                notice=cell("notice"),
                reading=cell("reading")[:200],
                translations={k: v for k, v in translations.items() if v},
            )
        )
    if not entries:
        raise CalendarError(
            "the dictionary has no item with a name and a category",
            warnings,
            code="calendar.dictionary_no_items",
        )
    return entries, warnings


def import_dictionary(
    session: Session,
    data: bytes,
    *,
    now: datetime,
    actor: str,
    source: str,
    dry_run: bool = False,
    department_id: int | None = None,
) -> dict[str, Any]:
    """Replace the whole dictionary in the caller's transaction (flushed, not committed).
    Raises CalendarError and writes nothing for an unusable file; a dry run only reports."""
    entries, warnings = parse_dictionary(data)
    report: dict[str, Any] = {
        "import_id": None,
        "dry_run": dry_run,
        "items": len(entries),
        "categories": sorted({entry.category for entry in entries}),
        "languages": ["ja", *sorted({lang for e in entries for lang in e.translations})],
        "warnings": warnings,
    }
    if dry_run:
        return report
    record = CalendarImport(at=now, actor=actor, source=source[:500], zones=[], days=0)
    session.add(record)
    session.flush()
    session.execute(sa.delete(SortingItem).where(col(SortingItem.id).is_not(None)))
    session.execute(
        sa.insert(SortingItem),
        [
            {
                "name": entry.name,
                "reading": entry.reading,
                "category": entry.category,
                "notice": entry.notice,
                "translations": entry.translations,
                "import_id": record.id,
            }
            for entry in entries
        ],
    )
    report["import_id"] = record.id
    record.report = report
    session.add(record)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="sorting_dictionary.import",
        entity="calendar_import",
        entity_id=record.id,
        department_id=department_id,
        after={"source": source[:500], "items": len(entries)},
    )
    session.flush()
    return report
