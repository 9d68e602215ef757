"""Why a segment rule is refused, in words staff can act on.

Every refusal is a `RuleError` naming the exact place (`all[1].value[0]`), because staff fix
rules by reading the message, not the code. Each carries the catalog code of its message
(broadcaster.catalog) and the parameters it is worded with, so the API can answer in the
reader's language; a JSON value's type is one of those parameters (`type_code`).
"""

from __future__ import annotations

from typing import Any

from broadcaster.errors import FeatureRefusal


class RuleError(FeatureRefusal, ValueError):
    """A rule is refused. `path` locates the bad part (`all[1].value[0]`, "" for the root)."""

    def __init__(self, path: str, message: str, code: str = "", **params: Any) -> None:
        super().__init__(message, code, path=path, **params)

    def __str__(self) -> str:
        return f"{self.path or 'rule'}: {self.message}"


# A JSON value's type, as the catalog code its `got` parameter is worded by ({got!t}: 数値,
# a number) and in English for the message logs and the CLI show.
_TYPE_NAMES = {
    "type.null": "null",
    "type.boolean": "a boolean",
    "type.number": "a number",
    "type.string": "a string",
    "type.list": "a list",
    "type.object": "an object",
}
# bool before int: True is an int to Python, a boolean to JSON.
_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "type.boolean"), ((int, float), "type.number"), (str, "type.string"),
    (list, "type.list"), (dict, "type.object"),
)


def type_code(value: object) -> str:
    """The catalog code of `value`'s JSON type (`type.number`), for a refusal's `got`."""
    if value is None:
        return "type.null"
    for kind, code in _TYPES:
        if isinstance(value, kind):
            return code
    return type(value).__name__


def json_type(value: object) -> str:
    """`value`'s JSON type in English (`a number`), for the refusal's message."""
    code = type_code(value)
    return _TYPE_NAMES.get(code, code)
