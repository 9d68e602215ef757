"""Calendar summaries -> garbage kinds, by the configured alias table.

Cities spell one kind many ways (燃やすごみ / 燃えるごみ / 可燃ごみ / 燃えるごみの収集日) and
put several kinds in one summary (「資源ごみ、びん・缶、ペットボトル」). A summary is read by
matching aliases longest first and removing them; what is left once separators and filler
words (収集日, の…) are gone is *unmapped*.

Decision (issue 6, "reported, not dropped"): an unmapped summary is imported as written, so
residents still hear about a collection the city published, and it is listed with its dates
in the import report so staff can add an alias. It is never silently dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from broadcaster.settings import GarbageKind, Settings

# Words that decorate a summary without naming a kind: 「燃えるごみの収集日」, 「（中央）」.
_FILLER = re.compile(r"^(の)?(収集日|収集|回収日|回収|の日|日)?$")
_BRACKETS = re.compile(r"[()\[\]【】「」]")
_SEPARATORS = re.compile(r"[\s、,/・&+]+")


@dataclass(frozen=True)
class KindMatch:
    """What one summary means: known kinds (ids, in table order) and the unmapped rest."""

    kinds: tuple[str, ...]
    unmapped: str | None


def normalize(text: str) -> str:
    """NFKC (full-width digits and brackets become ASCII) and no surrounding space."""
    return unicodedata.normalize("NFKC", text).strip()


class KindTable:
    """The configured kinds: match summaries, and name kinds for residents."""

    def __init__(self, kinds: Mapping[str, GarbageKind], ignore: Iterable[str] = ()) -> None:
        self._order = list(kinds)
        self._names = {kind: spec.name for kind, spec in kinds.items()}
        aliases: list[tuple[str, str]] = []
        for kind, spec in kinds.items():
            for alias in {spec.name, *spec.aliases}:
                aliases.append((normalize(alias), kind))
        # Longest first: 「燃やさないごみ」 must win over any shorter alias inside it.
        self._aliases = sorted(aliases, key=lambda pair: -len(pair[0]))
        self._ignore = {normalize(text) for text in ignore}

    def is_ignored(self, summary: str) -> bool:
        return normalize(summary) in self._ignore

    def match(self, summary: str) -> KindMatch:
        text = normalize(summary)
        found: set[str] = set()
        for alias, kind in self._aliases:
            if alias and alias in text:
                found.add(kind)
                text = text.replace(alias, " ")
        pieces = [piece for piece in _SEPARATORS.split(_BRACKETS.sub(" ", text)) if piece]
        rest = "、".join(piece for piece in pieces if not _FILLER.match(piece))
        kinds = tuple(kind for kind in self._order if kind in found)
        if not kinds:
            return KindMatch((), normalize(summary) or None)
        return KindMatch(kinds, rest or None)

    def name(self, kind: str) -> str:
        """The Japanese name residents see; an unknown id is shown as is."""
        return self._names.get(kind, kind)

    def display(self, kinds: Sequence[str], unmapped: Sequence[str] = ()) -> list[str]:
        """Names in table order, then unmapped summaries as the city wrote them."""
        ordered = sorted(
            kinds, key=lambda k: self._order.index(k) if k in self._order else len(self._order)
        )
        return [self.name(kind) for kind in ordered] + [text for text in unmapped if text]

    def order(self, kinds: Iterable[str]) -> list[str]:
        unique = set(kinds)
        known = [kind for kind in self._order if kind in unique]
        return known + sorted(unique - set(known))


def kind_table(settings: Settings) -> KindTable:
    """The city's kinds as configured (garbage.kinds, garbage.ignore_summaries)."""
    return KindTable(settings.garbage.kinds, settings.garbage.ignore_summaries)
