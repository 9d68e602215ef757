"""What residents read in LINE, in their language: one catalog file per language.

`segments/texts/<language>.toml` holds every text the resident side sends (the settings
conversation, summaries, replies, rich-menu labels, command words). `ja.toml` is the
reference: each other file has the same keys, checked by a test. A key missing in a
language is shown in Japanese and logged once as a fallback, so a gap is visible to the
city rather than silent, and the resident still gets an answer.

Names a city configures (districts, zones, interests, garbage kinds) are Japanese in
config.toml; their translations are `[residents.labels.<language>]` tables
(`"中央" = "Chuo"`). A name without one is shown as configured.

Dates use Babel's CLDR data ("Thu, Dec 3"), so no catalog spells out weekdays or months.
"""

from __future__ import annotations

import logging
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_skeleton

log = logging.getLogger(__name__)

TEXTS_DIR = Path(__file__).with_name("texts")
REFERENCE = "ja"
# Each language in its own name, as the first question offers it.
LANGUAGE_NAMES: Mapping[str, str] = {
    "ja": "日本語",
    "easy-ja": "やさしい にほんご",
    "en": "English",
    "zh": "中文",
    "ko": "한국어",
    "vi": "Tiếng Việt",
    "pt": "Português",
}
# Staff read each language by the same name (console pages, the desk's dry-run warnings):
# the residents' own names, except やさしい日本語, which staff read in plain Japanese.
STAFF_LANGUAGE_NAMES: Mapping[str, str] = {**LANGUAGE_NAMES, "easy-ja": "やさしい日本語"}
# The first question is asked before we know the language, so it is asked in all of them.
CHOOSE_LANGUAGE = (
    "ご希望の言語を選んでください。\n"
    "ことばを えらんで ください。\n"
    "Please choose your language.\n"
    "请选择语言。\n"
    "언어를 선택해 주세요.\n"
    "Vui lòng chọn ngôn ngữ.\n"
    "Escolha o seu idioma."
)
# CLDR locales for Babel; やさしい日本語 has none and reads dates as Japanese does.
LOCALES: Mapping[str, str] = {
    "ja": "ja",
    "easy-ja": "ja",
    "en": "en",
    "zh": "zh_Hans",
    "ko": "ko",
    "vi": "vi",
    "pt": "pt_BR",
}


@cache
def _flat(language: str) -> dict[str, Any]:
    """The language's file as dotted keys ({"ask.district": "..."}); empty if none."""
    path = TEXTS_DIR / f"{language}.toml"
    if not path.exists():
        return {}
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(f"{prefix}{key}.", value)
            else:
                flat[f"{prefix}{key}"] = value

    walk("", tomllib.loads(path.read_text(encoding="utf-8")))
    return flat


@cache
def _warn_fallback(language: str, key: str) -> None:
    log.warning("catalog %s has no %r; the Japanese text is shown (fallback)", language, key)


def languages() -> tuple[str, ...]:
    """Languages that have a catalog file."""
    return tuple(sorted(p.stem for p in TEXTS_DIR.glob("*.toml")))


def missing_keys(language: str) -> list[str]:
    """Reference keys the language lacks (shown in Japanese); [] for a complete catalog."""
    have = _flat(language)
    return sorted(k for k in _flat(REFERENCE) if k not in have)


def normalize_word(text: str) -> str:
    """How command words are compared: width-folded (NFKC), case-folded, spaces squeezed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@cache
def _word_actions() -> dict[str, str]:
    found: dict[str, str] = {}
    for language in languages():
        for key, value in _flat(language).items():
            if key.startswith("words."):
                for word in value:
                    found.setdefault(normalize_word(word), key.removeprefix("words."))
    return found


def action_for_word(text: str) -> str | None:
    """The action a command word names in any language (「言語」, "Language", "Idioma" ->
    "language"), or None."""
    return _word_actions().get(normalize_word(text))


class Texts:
    """One language's texts, with the city's labels for configured names.

    `texts("ask.district")` is the text; `texts("summary.district", value=...)` fills its
    placeholders; `texts.label("中央")` is a configured name in this language.
    """

    def __init__(self, language: str, labels: Mapping[str, Mapping[str, str]] | None = None):
        self.language = language if language in LANGUAGE_NAMES else REFERENCE
        self._own = _flat(self.language)
        self._labels: Mapping[str, str] = (labels or {}).get(self.language, {})

    def raw(self, key: str) -> Any:
        if key in self._own:
            return self._own[key]
        reference = _flat(REFERENCE)
        if key not in reference:
            raise KeyError(f"no text {key!r} in the catalog")
        _warn_fallback(self.language, key)
        return reference[key]

    def __call__(self, key: str, **fields: Any) -> str:
        text = str(self.raw(key))
        return text.format(**fields) if fields else text

    def word(self, action: str) -> str:
        """The first command word for `action` in this language (what the texts tell
        residents to send)."""
        return str(self.raw(f"words.{action}")[0])

    def label(self, value: str) -> str:
        """A configured name (district, zone, interest, garbage kind) in this language."""
        return self._labels.get(value, value)

    def join(self, values: Iterable[str]) -> str:
        """Values joined the way this language lists them, or its word for none."""
        listed = list(values)
        return self("separator").join(listed) if listed else self("none")

    def category(self, category: str) -> str:
        key = f"category.{category}"
        return self(key) if key in _flat(REFERENCE) else self.label(category)

    def kind(self, kind: str) -> str:
        """A disaster kind (洪水, 津波, ...) in this language."""
        key = f"kind.{kind}"
        return self(key) if key in _flat(REFERENCE) else self.label(kind)

    def clock(self, hour: int, minute: int) -> str:
        if minute:
            return self("clock_minutes", h=hour, m=minute, mm=f"{minute:02d}")
        return self("clock_hour", h=hour)

    def date(self, day: date) -> str:
        """A short date with weekday, e.g. "Thu, Dec 3" / "12月3日(木)"; a catalog may spell
        its own (`date` and `weekdays`, as やさしい日本語 does without kanji)."""
        if "date" in self._own:
            weekday = self._own["weekdays"][day.weekday()]
            return str(self._own["date"]).format(month=day.month, day=day.day, weekday=weekday)
        return format_skeleton("MMMEd", day, locale=LOCALES.get(self.language, REFERENCE))


def texts_for(language: str, labels: Mapping[str, Mapping[str, str]] | None = None) -> Texts:
    """The texts for a resident's language (an unknown language reads Japanese)."""
    return Texts(language, labels)
