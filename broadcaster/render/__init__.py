"""Rendering: one sandboxed, strict Jinja2 environment turning a template into LINE messages.

A template is validated when a broadcast is created (`Renderer.prepare`), not when it is
sent: unknown names, unknown resident fields, sandbox escapes and LINE limits are refused
then, with the template's name and line. `PreparedTemplate.render` is then a cheap, pure
function of the few resident fields the template reads (`resident_fields`), so the
dispatcher renders once per distinct context instead of once per resident.

`renderer` holds the environment and `prepare`; `prepared` the bound template and its
render; `template_facts` what is read from a template's syntax tree; `parameters` the
checks of a broadcast's parameters; `template_error` the one error they all raise. What a
render may cost is `broadcaster.render_budget`; LINE's limits are `broadcaster.limits`.

Templates live in templates/ as `<name>.<language>.j2`; `<name>.ja.j2` must exist and is
the fallback for every language without its own variant. See templates/README.md.
"""

from __future__ import annotations

from broadcaster.render.prepared import FALLBACK_LANGUAGE, PreparedTemplate
from broadcaster.render.renderer import TEMPLATES_DIR, Renderer
from broadcaster.render.template_error import TemplateError
from broadcaster.render.template_facts import RESIDENT_FIELDS

__all__ = [
    "FALLBACK_LANGUAGE",
    "RESIDENT_FIELDS",
    "TEMPLATES_DIR",
    "PreparedTemplate",
    "Renderer",
    "TemplateError",
]
