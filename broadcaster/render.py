"""Rendering: one sandboxed, strict Jinja2 environment turning a template into LINE messages.

A template is validated when a broadcast is created (`Renderer.prepare`), not when it is
sent: unknown names, unknown resident fields, sandbox escapes and LINE limits are refused
then, with the template's name and line. `PreparedTemplate.render` is then a cheap, pure
function of the few resident fields the template reads (`resident_fields`), so the
dispatcher renders once per distinct context instead of once per resident.

Templates live in templates/ as `<name>.<language>.j2`; `<name>.ja.j2` must exist and is
the fallback for every language without its own variant. See templates/README.md.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import traceback
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2 import FileSystemLoader, StrictUndefined, meta, nodes

from broadcaster.datelabels import date_label
from broadcaster.limits import MessageLimitError, check_messages
from broadcaster.messages import HelperError, MessageMarkers
from broadcaster.render_budget import (
    BudgetedEnvironment,
    RenderBudget,
    RenderBudgetExceeded,
    metering,
    render_metered,
)

if TYPE_CHECKING:
    from broadcaster.settings import Settings

__all__ = [
    "FALLBACK_LANGUAGE",
    "RESIDENT_FIELDS",
    "MessageLimitError",
    "PreparedTemplate",
    "Renderer",
    "TemplateError",
    "check_messages",
]

# The Resident columns a template may read: what a message may depend on, and nothing
# personal (no LINE id, no birth date).
RESIDENT_FIELDS = ("district", "garbage_zone", "language", "reminder_timing")
FALLBACK_LANGUAGE = "ja"
TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
INLINE_LABEL = "template text"
_FILE_NAME = re.compile(r"(?P<base>[a-z0-9_]+)\.(?P<lang>[a-z]+(?:-[a-z]+)?)\.j2")
# Trial renders at creation cover every combination of the fields a template reads, up to
# this many (7 languages x 6 districts x 4 zones x 3 timings still fits).
MAX_TRIAL_RENDERS = 600


class TemplateError(Exception):
    """A template cannot be used; `str()` names the template, the line and the problem in
    English (logs); `code` and `params` (`template`, `line`...) word it for staff."""

    def __init__(self, message: str, code: str = "template.invalid", **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def _at(label: str, line: int = 0) -> dict[str, Any]:
    """The `template` and `line` parameters for a label: a file's name, or the catalog's
    word for inline text ({template!t})."""
    name = "term.inline_template" if label == INLINE_LABEL else label.removeprefix("template ")
    return {"template": name.strip("'"), "line": line}


def _blank_none(value: Any) -> Any:
    # A resident who has not chosen a district prints as nothing, never as "None".
    return "" if value is None else value


PREPARED_CACHE_SIZE = 64


def _parameters_key(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, ensure_ascii=False, default=repr)


@dataclass(frozen=True)
class _Facts:
    """A template text's static analysis, independent of the broadcast's parameters."""

    ast: nodes.Template
    fields: frozenset[str]  # resident fields it reads
    undeclared: frozenset[str]  # names it reads that it does not define
    references: tuple[str | None, ...]  # included/imported templates (None: computed)


class Renderer:
    """The one Jinja2 environment of the service, loading from `templates_dir`.

    `languages` are the residents' languages (configuration); `districts`, `zones` and
    `reminder_timings` are the values trial renders try for templates that read them.
    """

    def __init__(
        self,
        templates_dir: Path,
        languages: Sequence[str],
        *,
        districts: Sequence[str] = ("中央",),
        zones: Sequence[str] = ("A",),
        reminder_timings: Sequence[str] = ("eve", "morning"),
        budget: RenderBudget | None = None,
    ) -> None:
        self.budget = budget or RenderBudget()
        self.templates_dir = Path(templates_dir).resolve()
        self.languages = tuple(dict.fromkeys([FALLBACK_LANGUAGE, *languages]))
        self._samples: dict[str, tuple[str, ...]] = {
            "district": tuple(districts) or ("中央",),
            "garbage_zone": tuple(zones) or ("A",),
            "reminder_timing": tuple(reminder_timings) or ("eve",),
        }
        self._markers = MessageMarkers()
        # (template, sources, parameters) -> (prepared, whether its trial renders ran)
        self._prepared: OrderedDict[tuple[str | None, str, str], tuple[PreparedTemplate, bool]] = (
            OrderedDict()
        )
        self._facts_cache: OrderedDict[str, _Facts] = OrderedDict()
        # Sandboxed, and every render metered (broadcaster.render_budget).
        self.env = BudgetedEnvironment(
            self.budget,
            loader=FileSystemLoader(self.templates_dir),
            undefined=StrictUndefined,
            autoescape=False,  # LINE text is not HTML
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=_blank_none,
        )
        self.env.globals.update(self._markers.helpers())
        self.env.filters["datelabel"] = date_label

    @classmethod
    def from_settings(cls, settings: Settings) -> Renderer:
        """The repository's templates/ with the configured languages, districts and zones."""
        residents = settings.residents
        return cls(
            TEMPLATES_DIR,
            residents.languages,
            districts=residents.districts,
            zones=residents.zones,
            budget=RenderBudget.from_limits(settings.limits),
        )

    def templates(self) -> dict[str, tuple[str, ...]]:
        """Template name -> languages it has a variant for (only names with a `.ja.j2`)."""
        found: dict[str, list[str]] = {}
        for path in sorted(self.templates_dir.glob("*.j2")):
            match = _FILE_NAME.fullmatch(path.name)
            if match:
                found.setdefault(match["base"], []).append(match["lang"])
        return {
            base: tuple(sorted(langs, key=lambda lang: (lang != FALLBACK_LANGUAGE, lang)))
            for base, langs in found.items()
            if FALLBACK_LANGUAGE in langs
        }

    def prepare(
        self,
        *,
        template_name: str | None,
        template_text: str | None,
        parameters: Mapping[str, Any],
        trial: bool = True,
    ) -> PreparedTemplate:
        """Validate a template with its parameters and return it ready to render.

        `template_name` is a name from `templates()` ("evacuation"; "evacuation.ja.j2" is
        accepted too); `template_text` is inline template text. Exactly one is given.
        Raises TemplateError (unknown template, syntax, unknown variable or resident field,
        sandbox, or a trial render failing or over LINE's limits) naming the line.

        `trial=False` skips the trial renders, for a caller that never refuses a send for
        its rendering (an evacuation order falls back to plain text per context instead):
        for it, 140 trial renders would only delay the first LINE request.
        """
        if (template_name is None) == (template_text is None):
            raise TemplateError(
                "give exactly one of template_name and template_text", "template.one_source"
            )
        if template_text is not None and len(template_text) > self.budget.template_chars:
            raise TemplateError(
                f"template text is {len(template_text)} characters; the limit is "
                f"{self.budget.template_chars} (limits.template_chars)",
                "template.text_too_long",
                length=len(template_text),
                limit=self.budget.template_chars,
            )
        params = self._check_parameters(parameters)
        sources: dict[str, tuple[str, str]] = {}  # language -> (label, source)
        if template_name is not None:
            base, variants = self._resolve(template_name)
            for lang in variants:
                file_name = f"{base}.{lang}.j2"
                sources[lang] = (f"template {file_name!r}", self._source(file_name))
        else:
            assert template_text is not None
            sources[FALLBACK_LANGUAGE] = (INLINE_LABEL, template_text)
        # The same template and parameters are prepared when a broadcast is created and
        # again when it is dispatched (an evacuation order: 7 languages x every district of
        # trial renders, ~0.1 s each time, before the first LINE request may leave).
        key = (template_name, json.dumps(sorted(sources.items())), _parameters_key(params))
        cached = self._prepared.get(key)
        if cached is None:
            cached = self._prepared[key] = (self._prepare(template_name, sources, params), False)
            while len(self._prepared) > PREPARED_CACHE_SIZE:
                self._prepared.popitem(last=False)
        self._prepared.move_to_end(key)
        prepared, tried = cached
        if trial and not tried:
            self._trial(prepared, sources)
            self._prepared[key] = (prepared, True)
        return prepared

    def warm(self) -> None:
        """Compile every template file now, at start, so the first evacuation order does
        not wait ~0.1 s for seven languages to compile. A file that does not compile is
        left for `prepare` to report when it is used."""
        for path in sorted(self.templates_dir.glob("*.j2")):
            try:
                self._facts(self._source(path.name), path.name)
                self.env.get_template(path.name)
            except (jinja2.TemplateError, TemplateError):
                continue

    def _prepare(
        self,
        template_name: str | None,
        sources: Mapping[str, tuple[str, str]],
        params: dict[str, Any],
    ) -> PreparedTemplate:
        fields = {"language"}
        compiled: dict[str, jinja2.Template] = {}
        for lang, (label, source) in sources.items():
            fields |= self._analyse(source, label, params, seen=set())
            if template_name is not None:
                compiled[lang] = self.env.get_template(f"{_base_of(template_name)}.{lang}.j2")
            else:
                compiled[lang] = self.env.from_string(source)
        return PreparedTemplate(
            label=sources[FALLBACK_LANGUAGE][0],
            resident_fields=tuple(f for f in RESIDENT_FIELDS if f in fields),
            variants=compiled,
            parameters=params,
            markers=self._markers,
            templates_dir=self.templates_dir,
            budget=self.budget,
        )

    def _trial(self, prepared: PreparedTemplate, sources: Mapping[str, tuple[str, str]]) -> None:
        """Render every combination of the fields the template reads (up to
        MAX_TRIAL_RENDERS); raises TemplateError naming the combination that fails."""
        # All trial renders of a template share one time budget.
        with metering(self.budget):
            self._trial_each(prepared, sources)

    def _trial_each(
        self, prepared: PreparedTemplate, sources: Mapping[str, tuple[str, str]]
    ) -> None:
        for resident in self._trial_residents(prepared.resident_fields):
            try:
                prepared.render(resident)
            except (TemplateError, MessageLimitError) as exc:
                shown = ", ".join(f"{k}={v}" for k, v in resident.items())
                where = ""
                if isinstance(exc, MessageLimitError):
                    where = sources[prepared.variant_language(resident["language"])][0] + ": "
                # Staff read the problem itself; the combination is for the English log.
                code, params = (
                    (exc.code, exc.params)
                    if isinstance(exc, TemplateError)
                    else ("template.line_limits", {"problem": str(exc)})
                )
                raise TemplateError(
                    f"{where}{exc} (trial render for a resident with {shown})",
                    code,
                    **params,
                    resident=shown,
                ) from exc

    def _check_parameters(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(parameters, Mapping):
            raise TemplateError(
                "parameters must be an object of name -> value", "template.parameters_object"
            )
        reserved = {"resident", *self.env.globals}
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
        size = len(_parameters_key(parameters).encode())
        if size > self.budget.parameters_bytes:
            # Stored twice (the broadcast and its audit row), and rendered into every message.
            raise TemplateError(
                f"parameters are {size} bytes of JSON; the limit is "
                f"{self.budget.parameters_bytes} (limits.parameters_bytes)",
                "template.parameters_too_large",
                size=size,
                limit=self.budget.parameters_bytes,
            )
        # Our own copy: a caller changing its dict later must not change what is sent.
        return copy.deepcopy(dict(parameters))

    def _resolve(self, name: str) -> tuple[str, tuple[str, ...]]:
        available = self.templates()
        base = _base_of(name)
        if base not in available:
            shown = ", ".join(sorted(available)) or "none"
            raise TemplateError(
                f"unknown template {name!r}; available: {shown}",
                "template.unknown",
                name=name,
                available=shown,
            )
        return base, available[base]

    def _source(self, file_name: str) -> str:
        assert self.env.loader is not None
        try:
            return self.env.loader.get_source(self.env, file_name)[0]
        except jinja2.TemplateNotFound:
            raise TemplateError(
                f"template {file_name!r} not found in templates/",
                "template.file_missing",
                template=file_name,
            ) from None

    def _analyse(
        self, source: str, label: str, params: Mapping[str, Any], seen: set[str]
    ) -> set[str]:
        """Static checks of one template (and what it includes); returns resident fields read."""
        facts = self._facts(source, label)
        known = {"resident", *params, *self.env.globals}
        unknown = facts.undeclared - known
        if unknown:
            name, line = min(((n, _first_line(facts.ast, n)) for n in unknown), key=lambda t: t[1])
            raise TemplateError(
                f"{label}, line {line}: {name!r} is neither a broadcast parameter "
                "nor a resident field",
                "template.unknown_name",
                **_at(label, line),
                name=name,
            )
        fields = set(facts.fields)
        for ref in facts.references:
            if ref is None:
                raise TemplateError(
                    f"{label}: include/import of a computed name is not allowed",
                    "template.computed_include",
                    **_at(label),
                )
            if ref not in seen:
                seen.add(ref)
                fields |= self._analyse(self._source(ref), f"template {ref!r}", params, seen)
        return fields

    def _facts(self, source: str, label: str) -> _Facts:
        """What static checks need of a template's text, cached by that text: each order
        has new parameters, so the prepared cache misses, but its seven templates are the
        same each time (analysing them anew cost ~15 ms before its first request)."""
        facts = self._facts_cache.get(source)
        if facts is None:
            try:
                ast = self.env.parse(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(
                    f"{label}, line {exc.lineno}: syntax error: {exc.message}",
                    "template.syntax",
                    **_at(label, exc.lineno),
                    problem=exc.message or "",
                ) from None
            unsafe = [n for n in ast.find_all(nodes.Getattr) if n.attr.startswith("_")]
            if unsafe:
                # Innermost first: `''.__class__.__mro__` reports __class__.
                node = min(reversed(unsafe), key=lambda n: n.lineno)
                raise TemplateError(
                    f"{label}, line {node.lineno}: access to {node.attr!r} is not allowed",
                    "template.private_attribute",
                    **_at(label, node.lineno),
                    name=node.attr,
                )
            facts = self._facts_cache[source] = _Facts(
                ast=ast,
                fields=frozenset(_resident_fields(ast, label)),
                undeclared=frozenset(meta.find_undeclared_variables(ast)),
                references=tuple(meta.find_referenced_templates(ast)),
            )
            while len(self._facts_cache) > PREPARED_CACHE_SIZE:
                self._facts_cache.popitem(last=False)
        self._facts_cache.move_to_end(source)
        return facts

    def _trial_residents(self, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        choices = [self.languages if f == "language" else self._samples[f] for f in fields]
        for values in itertools.islice(itertools.product(*choices), MAX_TRIAL_RENDERS):
            yield dict(zip(fields, values, strict=True))


class PreparedTemplate:
    """A validated template bound to its parameters; `render` is pure and cheap."""

    def __init__(
        self,
        *,
        label: str,
        resident_fields: tuple[str, ...],
        variants: Mapping[str, jinja2.Template],
        parameters: Mapping[str, Any],
        markers: MessageMarkers,
        templates_dir: Path,
        budget: RenderBudget | None = None,
    ) -> None:
        self.budget = budget or RenderBudget()
        self.label = label
        self.resident_fields = resident_fields
        self.variants = dict(variants)
        self.parameters = parameters
        self._markers = markers
        self._templates_dir = str(templates_dir)

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages with their own variant; every other language gets Japanese."""
        return tuple(self.variants)

    def variant_language(self, language: Any) -> str:
        return language if language in self.variants else FALLBACK_LANGUAGE

    def render(self, resident: Mapping[str, Any]) -> list[dict[str, Any]]:
        """LINE message objects (camelCase JSON dicts) for a resident with these fields.

        Only `resident_fields` are read from `resident` (extra keys are ignored).
        Raises TemplateError (a field missing, or the template failing for these values)
        or MessageLimitError (the output is over LINE's limits).
        """
        missing = [f for f in self.resident_fields if f not in resident]
        if missing:
            raise TemplateError(
                f"{self.label}: resident field(s) {', '.join(missing)} not given",
                "template.fields_not_given",
                **_at(self.label),
                fields=", ".join(missing),
            )
        context = {f: resident[f] for f in self.resident_fields}
        template = self.variants[self.variant_language(context["language"])]
        try:
            with metering(self.budget, share_clock=True) as meter:
                output = render_metered(
                    template.generate({**self.parameters, "resident": context}), meter
                )
            messages = self._markers.parse(output)
        except Exception as exc:
            raise self._runtime_error(exc) from exc
        check_messages(messages)
        return messages

    def _runtime_error(self, exc: Exception) -> TemplateError:
        where, at = self.label, _at(self.label)
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == "<template>":
                where = f"{INLINE_LABEL}, line {frame.lineno}"
                at = _at(INLINE_LABEL, frame.lineno or 0)
            elif frame.filename.startswith(self._templates_dir) and frame.filename.endswith(".j2"):
                where = f"template {Path(frame.filename).name!r}, line {frame.lineno}"
                at = _at(Path(frame.filename).name, frame.lineno or 0)
        code, params = "template.render_failed", {"problem": f"{type(exc).__name__}: {exc}"}
        if isinstance(exc, RenderBudgetExceeded):
            problem = f"over the render budget: {exc}"
            code, params = exc.code, exc.params
        elif isinstance(exc, jinja2.sandbox.SecurityError):
            problem = f"not allowed: {exc}"
            code, params = "template.not_allowed", {"problem": str(exc)}
        elif isinstance(exc, jinja2.TemplateError | HelperError):
            problem = str(exc)
            params = {"problem": problem}
        else:
            problem = params["problem"]
        return TemplateError(f"{where}: {problem}", code, **at, **params)


def _base_of(name: str) -> str:
    name = name.strip()
    match = _FILE_NAME.fullmatch(name)
    if match:
        return match["base"]
    return name.removesuffix(".j2")


def _resident_fields(ast: nodes.Template, label: str) -> set[str]:
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
                **_at(label, line),
                name=field,
                fields=readable,
            )
        fields.add(field)
        static_uses += 1
    uses = sum(1 for n in ast.find_all(nodes.Name) if n.name == "resident" and n.ctx == "load")
    return set(RESIDENT_FIELDS) if uses > static_uses else fields


def _first_line(ast: nodes.Template, name: str) -> int:
    return min(
        (n.lineno for n in ast.find_all(nodes.Name) if n.name == name and n.ctx == "load"),
        default=1,
    )


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
