"""What a template's text says about itself, read from its syntax tree before it runs.

A template is refused at creation, with its line, for what can be seen without rendering
it: a syntax error, a private attribute (`''.__class__`, the usual sandbox escape), or a
resident field that is not one of `RESIDENT_FIELDS`. What it reads (the resident fields,
the names it leaves undefined, the templates it includes) is kept as `TemplateFacts`, so
the Renderer can check its names against a broadcast's parameters and render once per
distinct combination of the fields it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta, nodes

from broadcaster.render.template_error import TemplateError, template_at

# The Resident columns a template may read: what a message may depend on, and nothing
# personal (no LINE id, no birth date).
RESIDENT_FIELDS = ("district", "garbage_zone", "language", "reminder_timing")


@dataclass(frozen=True)
class TemplateFacts:
    """A template text's static analysis, independent of the broadcast's parameters."""

    ast: nodes.Template
    fields: frozenset[str]  # resident fields it reads
    undeclared: frozenset[str]  # names it reads that it does not define
    references: tuple[str | None, ...]  # included/imported templates (None: computed)


def read_facts(env: jinja2.Environment, source: str, label: str) -> TemplateFacts:
    """Parse `source` with `env` and read its facts; raises TemplateError (syntax, a private
    attribute, a resident field that is not one) naming `label` and the line."""
    try:
        ast = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"{label}, line {exc.lineno}: syntax error: {exc.message}",
            "template.syntax",
            **template_at(label, exc.lineno),
            problem=exc.message or "",
        ) from None
    unsafe = [n for n in ast.find_all(nodes.Getattr) if n.attr.startswith("_")]
    if unsafe:
        # Innermost first: `''.__class__.__mro__` reports __class__.
        node = min(reversed(unsafe), key=lambda n: n.lineno)
        raise TemplateError(
            f"{label}, line {node.lineno}: access to {node.attr!r} is not allowed",
            "template.private_attribute",
            **template_at(label, node.lineno),
            name=node.attr,
        )
    return TemplateFacts(
        ast=ast,
        fields=frozenset(resident_fields(ast, label)),
        undeclared=frozenset(meta.find_undeclared_variables(ast)),
        references=tuple(meta.find_referenced_templates(ast)),
    )


def resident_fields(ast: nodes.Template, label: str) -> set[str]:
    """Resident columns read as `resident.x` / `resident["x"]`; any other use of `resident`
    (passing it whole, a computed key) counts as reading every field."""
    fields: set[str] = set()
    static_uses = 0
    reads: list[tuple[Any, int]] = []
    for attr in ast.find_all(nodes.Getattr):
        if isinstance(attr.node, nodes.Name) and attr.node.name == "resident":
            reads.append((attr.attr, attr.lineno))
    for item in ast.find_all(nodes.Getitem):
        if (
            isinstance(item.node, nodes.Name)
            and item.node.name == "resident"
            and isinstance(item.arg, nodes.Const)
            and isinstance(item.arg.value, str)
        ):
            reads.append((item.arg.value, item.lineno))
    for field, line in sorted(reads, key=lambda read: read[1]):
        if field not in RESIDENT_FIELDS:
            readable = ", ".join("resident." + f for f in RESIDENT_FIELDS)
            raise TemplateError(
                f"{label}, line {line}: resident.{field} is not a resident field "
                f"(templates may read {readable})",
                "template.not_resident_field",
                **template_at(label, line),
                name=field,
                fields=readable,
            )
        fields.add(field)
        static_uses += 1
    uses = sum(1 for n in ast.find_all(nodes.Name) if n.name == "resident" and n.ctx == "load")
    return set(RESIDENT_FIELDS) if uses > static_uses else fields


def first_line(ast: nodes.Template, name: str) -> int:
    """The first line reading `name` (1 if none does), for an error about that name."""
    return min(
        (n.lineno for n in ast.find_all(nodes.Name) if n.name == name and n.ctx == "load"),
        default=1,
    )
