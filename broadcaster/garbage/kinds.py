"""Calendar summaries -> garbage kinds and notes, by the configured alias table. Pure.

Cities spell one kind many ways (燃やすごみ / 燃えるごみ / 可燃ごみ / 燃えるごみの収集日), put
several kinds in one summary (「資源ごみ、びん・缶、ペットボトル」) and add notes for the
resident (「粗大ごみ（要予約）」, 「古紙 ※雨天決行」). A summary is read as residents read it:

- a bracketed or ※ note is a note on the day, shown with it, never a kind (a bracket that
  only names kinds, 「資源ごみ（びん・缶）」, names kinds);
- the rest is split at separators (、 ・ / space …) into words, after aliases that contain a
  separator themselves (「有害・危険ごみ」) are taken out whole;
- a word is a kind when it is an alias once filler (の収集日, 回収) and affixes (類, 等,
  空き) are set aside, so 「びん類」 is びん and 「燃えるごみの日」 is 燃やすごみ; a word that is
  not (「白トレイ」, 「スプレー缶」) is kept as written: *unmapped*.

Decision (issue 6, "reported, not dropped"): an unmapped summary is imported as written, so
residents still hear about a collection the city published, and it is listed with its dates
in the import report so staff can add an alias. It is never silently dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from broadcaster.settings import GarbageKind, Settings

# Words that decorate a summary without naming a kind: 「燃えるごみの収集日」, 「の日」.
_FILLER_SUFFIX = re.compile(r"(の)?(収集日|収集|回収日|回収|の日|日)$")
_FILLER = re.compile(r"^(の)?(収集日|収集|回収日|回収|の日|日|ごみ)?$")
# Affixes that stay with their kind: 「びん類」 is びん, 「空き缶」 is 缶.
_PREFIX = re.compile(r"^(空き|空)")
_SUFFIX = re.compile(r"(類|等|など|ごみ|物)$")
# After NFKC, full-width brackets are ASCII; 【】「」『』 have no ASCII form.
_NOTE = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]|【([^【】]*)】|「([^「」]*)」|『([^『』]*)』")
_MARK_NOTE = re.compile(r"※\s*(.*)$")
_SEPARATORS = re.compile(r"[\s、,/・&+;]+")
_SEPARATOR_CHARS = re.compile(r"[\s、,/・&+;]")

# How a language lists kinds: 「燃やすごみ、びん」, "burnable waste, glass bottles".
_LIST_SEPARATORS = {"ja": "、", "easy-ja": "、", "zh": "、"}
_NOTE_BRACKETS = {"ja": ("（", "）"), "easy-ja": ("（", "）"), "zh": ("（", "）")}


@dataclass(frozen=True)
class KindMatch:
    """What one summary means: known kinds (ids, in table order), the unmapped rest as
    written, and notes for the day (「要予約」)."""

    kinds: tuple[str, ...]
    unmapped: str | None
    notes: tuple[str, ...] = ()


def normalize(text: str) -> str:
    """NFKC (full-width digits and brackets become ASCII) and no surrounding space."""
    return unicodedata.normalize("NFKC", text).strip()


def join_names(names: Sequence[str], language: str = "ja") -> str:
    """Names listed as the language lists them."""
    return _LIST_SEPARATORS.get(language, ", ").join(names)


def with_notes(text: str, notes: Sequence[str], language: str = "ja") -> str:
    """「粗大ごみ（要予約）」: the day's notes after what is collected."""
    if not notes:
        return text
    opening, closing = _NOTE_BRACKETS.get(language, (" (", ")"))
    return f"{text}{opening}{join_names(notes, language)}{closing}"


class KindTable:
    """The configured kinds: read summaries, and name kinds for residents in their language."""

    def __init__(self, kinds: Mapping[str, GarbageKind], ignore: Iterable[str] = ()) -> None:
        self._order = list(kinds)
        self._names = {kind: {"ja": spec.name, **spec.names} for kind, spec in kinds.items()}
        self._words: dict[str, str] = {}
        compounds: list[tuple[str, str]] = []
        for kind, spec in kinds.items():
            for alias in (spec.name, *spec.aliases):
                key = normalize(alias)
                if not key:
                    continue
                if _SEPARATOR_CHARS.search(key):
                    compounds.append((key, kind))
                else:
                    self._words.setdefault(key, kind)
        # Longest first: 「有害・危険ごみ」 before anything shorter inside it.
        self._compounds = sorted(compounds, key=lambda pair: -len(pair[0]))
        self._ignore = {normalize(text) for text in ignore}
        # A calendar repeats a few summaries thousands of times; read each once.
        self.match = lru_cache(maxsize=4096)(self._match)  # type: ignore[method-assign]

    def is_ignored(self, summary: str) -> bool:
        return normalize(summary) in self._ignore

    def match(self, summary: str) -> KindMatch:
        """What `summary` means (cached per table)."""
        return self._match(summary)

    def _match(self, summary: str) -> KindMatch:
        text = normalize(summary)
        notes: list[str] = []
        found: set[str] = set()

        def bracket(match: re.Match[str]) -> str:
            inner = next(group for group in match.groups() if group is not None).strip()
            kinds, rest = self._words_of(inner)
            if kinds and not rest:
                found.update(kinds)  # 「資源ごみ（びん・缶）」 names kinds
            elif inner:
                notes.append(inner)
            return " "

        text = _NOTE.sub(bracket, text)
        mark = _MARK_NOTE.search(text)
        if mark:
            if mark.group(1).strip():
                notes.append(mark.group(1).strip())
            text = text[: mark.start()]
        kinds, rest = self._words_of(text)
        found.update(kinds)
        ordered = tuple(kind for kind in self._order if kind in found)
        if not ordered:
            return KindMatch((), summary.strip() or None)
        return KindMatch(ordered, "、".join(rest) or None, tuple(notes))

    def _words_of(self, text: str) -> tuple[set[str], list[str]]:
        """Kinds named in `text`, and its words that name none (as written)."""
        found: set[str] = set()
        for alias, kind in self._compounds:
            if alias in text:
                found.add(kind)
                text = text.replace(alias, " ")
        rest: list[str] = []
        for word in _SEPARATORS.split(text):
            if not word or _FILLER.match(word):
                continue
            named = self._word_kind(word)
            if named is None:
                rest.append(word)
            else:
                found.add(named)
        return found, rest

    def _word_kind(self, word: str) -> str | None:
        candidates = [word]
        bare = _FILLER_SUFFIX.sub("", word) or word
        candidates.append(bare)
        for _ in range(2):  # 「空きびん類」: one prefix and one suffix at most
            stripped = _SUFFIX.sub("", _PREFIX.sub("", bare))
            if not stripped or stripped == bare:
                break
            bare = stripped
            candidates.append(bare)
        for candidate in candidates:
            kind = self._words.get(candidate)
            if kind is not None:
                return kind
        return None

    def name(self, kind: str, language: str = "ja") -> str:
        """The name residents see in `language` (Japanese when it has none); an unknown id
        is shown as is."""
        names = self._names.get(kind)
        if names is None:
            return kind
        return names.get(language) or names["ja"]

    def display(
        self, kinds: Sequence[str], unmapped: Sequence[str] = (), language: str = "ja"
    ) -> list[str]:
        """Names in table order, then unmapped summaries as the city wrote them."""
        return [self.name(kind, language) for kind in self.order(kinds)] + [
            text for text in unmapped if text
        ]

    def text(
        self,
        kinds: Sequence[str],
        unmapped: Sequence[str] = (),
        notes: Sequence[str] = (),
        language: str = "ja",
    ) -> str:
        """One line for residents: 「燃やすごみ、粗大ごみ（要予約）」."""
        names = join_names(self.display(kinds, unmapped, language), language)
        return with_notes(names, notes, language)

    def order(self, kinds: Iterable[str]) -> list[str]:
        unique = set(kinds)
        known = [kind for kind in self._order if kind in unique]
        return known + sorted(unique - set(known))


def kind_table(settings: Settings) -> KindTable:
    """The city's kinds as configured (garbage.kinds, garbage.ignore_summaries)."""
    return KindTable(settings.garbage.kinds, settings.garbage.ignore_summaries)
