"""A broadcast's template parameters: what they may be, and the key they are cached by.

Parameters come from staff (the API, the console) and are stored twice (the broadcast and
its audit row) and rendered into every message, so they are checked when the broadcast is
created: an object of text names, none shadowing a template helper or `resident`, no NUL
character anywhere, and at most `limits.parameters_bytes` of JSON.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from broadcaster.render.template_error import TemplateError


def parameters_key(params: Mapping[str, Any]) -> str:
    """The parameters as canonical JSON: equal parameters give equal keys (and its length
    in bytes is what `limits.parameters_bytes` bounds)."""
    return json.dumps(params, sort_keys=True, ensure_ascii=False, default=repr)


def check_parameters(
    parameters: Mapping[str, Any], *, helpers: Iterable[str], max_bytes: int
) -> dict[str, Any]:
    """Our own deep copy of `parameters`, once they are fit to render; `helpers` are the
    names of the environment's globals, which a parameter may not take.

    Raises TemplateError (not an object, a name not text or reserved, a NUL character,
    over `max_bytes` of JSON).
    """
    if not isinstance(parameters, Mapping):
        raise TemplateError(
            "parameters must be an object of name -> value", "template.parameters_object"
        )
    reserved = {"resident", *helpers}
    for name, value in parameters.items():
        if not isinstance(name, str):
            raise TemplateError(
                f"parameter name {name!r} must be text", "template.parameter_name", name=name
            )
        if name in reserved:
            raise TemplateError(
                f"parameter {name!r} is reserved (a template helper or the resident); "
                "rename it",
                "template.parameter_reserved",
                name=name,
            )
        if any("\x00" in text for text in _strings(value)):
            raise TemplateError(
                f"parameter {name!r} contains a NUL character", "template.parameter_nul",
                name=name,
            )
    size = len(parameters_key(parameters).encode())
    if size > max_bytes:
        # Stored twice (the broadcast and its audit row), and rendered into every message.
        raise TemplateError(
            f"parameters are {size} bytes of JSON; the limit is "
            f"{max_bytes} (limits.parameters_bytes)",
            "template.parameters_too_large",
            size=size,
            limit=max_bytes,
        )
    # Our own copy: a caller changing its dict later must not change what is sent.
    return copy.deepcopy(dict(parameters))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
