"""The one error a template is refused or fails with, and where in which template it was.

Every check of rendering (static analysis, parameters, trial renders, a render failing)
raises `TemplateError`, so the API, the console and the dispatcher word every refusal the
same way: in English for the log (`str()`), by `code` and `params` for staff.
"""

from __future__ import annotations

from typing import Any

from broadcaster.errors import FeatureRefusal

# How inline template text (a broadcast's own, not a file in templates/) is named in errors.
INLINE_LABEL = "template text"


class TemplateError(FeatureRefusal):
    """A template cannot be used; `str()` names the template, the line and the problem in
    English (logs); `code` and `params` (`template`, `line`...) word it for staff."""

    default_code = "template.invalid"


def template_at(label: str, line: int = 0) -> dict[str, Any]:
    """The `template` and `line` parameters for a label: a file's name, or the catalog's
    word for inline text ({template!t})."""
    name = "term.inline_template" if label == INLINE_LABEL else label.removeprefix("template ")
    return {"template": name.strip("'"), "line": line}
