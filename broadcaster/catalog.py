"""The one catalog of refusal texts, in Japanese and English (gettext, read with Babel).

Messages are gettext catalogs under `broadcaster/locale/<lang>/LC_MESSAGES/errors.po`,
keyed by the error's stable code (`not_found.broadcast`), with `{name}` placeholders filled
from the error's parameters. Keying by code rather than by the English sentence keeps the
code stable while either language's wording is edited; `make lint` is not needed to
compile anything: the .po files are read at import (a few dozen messages, ~5 ms).

Japanese is the city's language and the default: a request without `Accept-Language`
(the console, a script) is answered in Japanese.
"""

from __future__ import annotations

import io
import re
import string
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

if TYPE_CHECKING:
    from broadcaster.errors import DomainError, FieldError

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_QUALITY = re.compile(r"^\s*q\s*=\s*([0-9.]+)\s*$")


@cache
def translations(language: str) -> Translations:
    """The compiled catalog of one language (read once per process)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "errors.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain="errors")


def negotiate(accept_language: str | None) -> str:
    """The language to answer in for an `Accept-Language` header (RFC 9110 12.5.4)."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")[:20]):
        tag, _, quality = item.partition(";")
        tag = tag.strip()
        weight = 1.0
        if quality:
            match = _QUALITY.match(quality)
            try:
                weight = float(match[1]) if match else 0.0
            except ValueError:
                weight = 0.0
        if tag and weight > 0:
            ranked.append((-weight, position, tag.replace("_", "-")))
    preferred = [tag for _, _, tag in sorted(ranked)]
    if "*" in preferred:
        preferred[preferred.index("*")] = DEFAULT_LANGUAGE
    chosen = negotiate_locale(preferred, list(LANGUAGES), sep="-")
    if chosen is None:
        # A language tag with a region ("en-US") matches its language.
        chosen = negotiate_locale([t.split("-")[0] for t in preferred], list(LANGUAGES))
    return chosen or DEFAULT_LANGUAGE


def text(code: str, language: str, params: dict[str, Any] | None = None) -> str | None:
    """The message for `code` in `language` with `params` filled in; None when the
    catalog has no such message (the caller then shows what the refusing code wrote)."""
    found = translations(language if language in LANGUAGES else DEFAULT_LANGUAGE).gettext(code)
    if found == code:
        return None
    return _fill(found, params or {}, language)


def title(error: DomainError, language: str) -> str:
    """The short, kind-level title (`見つかりません`, `Not found`)."""
    return text(f"title.{error.kind.name}", language) or error.kind.name


def detail_text(error: DomainError, language: str) -> str:
    """The full sentence for `error`: the catalog's text for its code, or its own.

    `{detail}` in a text is what the refusing code wrote: the English catalog uses it where
    that sentence is the most precise English there is (a parser's "line 7: ...")."""
    found = text(error.code, language, {"detail": error.detail or "", **error.params})
    if found is not None:
        return found
    return error.detail or title(error, language)


def field_text(field: FieldError, language: str) -> str:
    """The message of one field to fix, in `language`: the catalog's text for its code; for
    a validation error the catalog has no sentence for, a general one in Japanese (the
    validator's own text is English) and the validator's text in English."""
    if field.code:
        found = text(field.code, language, dict(field.params or {}))
        if found is not None:
            return found
        if field.code.startswith("validation.") and language != "en":
            return text("validation.other", language) or field.text
    return field.text or field.code


class _Lenient(string.Formatter):
    """Leaves a placeholder the error did not supply visible instead of failing, and words
    `{name!t}` in the reader's language: the parameter is itself a catalog code (a JSON
    type `type.number`, `term.inline_template`), shown as written when the catalog has no
    such code (a template's file name)."""

    def __init__(self, language: str) -> None:
        super().__init__()
        self.language = language

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "t":
            return text(str(value), self.language) or value
        return super().convert_field(value, conversion)

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        if isinstance(key, str) and key not in kwargs:
            return "{" + key + "}"
        return super().get_value(key, args, kwargs)


def _fill(template: str, params: dict[str, Any], language: str) -> str:
    try:
        return _Lenient(language).format(template, **params)
    except (ValueError, IndexError, KeyError):
        return template
