"""A notice's text as one inline template: the Japanese text, and a branch per language
that has its own.

The form keeps one text per language; the API takes one `template_text`. These two
functions are each other's inverse, so a notice written in the console reads back into
the same boxes when it is edited, and any template written elsewhere (the API) is shown
whole as the Japanese text rather than guessed apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Exactly the shape `compose_template` writes, nothing looser: a template typed by hand
# (through the API) is never split, so saving it from the form never rewrites it.
_VARIANT = re.compile(
    r'\A\{% if resident\.language == "(?P<first>[a-z-]+)" %\}\n(?P<body>.*)\n\{% else %\}\n'
    r"(?P<ja>.*)\n\{% endif %\}\Z",
    re.S,
)
_ELIF = re.compile(r'\n\{% elif resident\.language == "([a-z-]+)" %\}\n')


def compose_template(japanese: str, variants: Mapping[str, str]) -> str:
    """One inline template: the Japanese text, or a branch per language with its own text
    (every other language reads the Japanese one)."""
    own = [(lang, body.strip("\n")) for lang, body in variants.items() if body.strip()]
    if not own:
        return japanese
    first_lang, first_body = own[0]
    lines = [f'{{% if resident.language == "{first_lang}" %}}', first_body]
    for lang, body in own[1:]:
        lines += [f'{{% elif resident.language == "{lang}" %}}', body]
    lines += ["{% else %}", japanese.strip("\n"), "{% endif %}"]
    return "\n".join(lines)


def split_template(template: str | None) -> tuple[str, dict[str, str]]:
    """The Japanese text and the per-language texts of a template `compose_template`
    wrote; any other template is all Japanese text."""
    if not template:
        return "", {}
    match = _VARIANT.match(template)
    if match is None:
        return template, {}
    parts = _ELIF.split(match["body"])
    variants = {match["first"]: parts[0]}
    for index in range(1, len(parts) - 1, 2):
        variants[parts[index]] = parts[index + 1]
    return match["ja"], variants
