"""The Renderer: the service's one sandboxed, strict Jinja2 environment, and `prepare`.

A template is validated when a broadcast is created (`Renderer.prepare`), not when it is
sent: unknown names, unknown resident fields, sandbox escapes and LINE limits are refused
then, with the template's name and line, and every combination of the fields it reads is
rendered once on trial. Prepared templates and each text's facts are cached, since an
order prepares the same seven templates at creation and again at dispatch.

Templates live in templates/ as `<name>.<language>.j2`; `<name>.ja.j2` must exist and is
the fallback for every language without its own variant. See templates/README.md.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2 import FileSystemLoader, StrictUndefined

from broadcaster.datelabels import date_label
from broadcaster.limits import MessageLimitError
from broadcaster.messages import MessageMarkers
from broadcaster.render.parameters import check_parameters, parameters_key
from broadcaster.render.prepared import FALLBACK_LANGUAGE, PreparedTemplate
from broadcaster.render.template_error import INLINE_LABEL, TemplateError, template_at
from broadcaster.render.template_facts import (
    RESIDENT_FIELDS,
    TemplateFacts,
    first_line,
    read_facts,
)
from broadcaster.render_budget import BudgetedEnvironment, RenderBudget, metering

if TYPE_CHECKING:
    from broadcaster.settings import Settings

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
_FILE_NAME = re.compile(r"(?P<base>[a-z0-9_]+)\.(?P<lang>[a-z]+(?:-[a-z]+)?)\.j2")
# Trial renders at creation cover every combination of the fields a template reads, up to
# this many (7 languages x 6 districts x 4 zones x 3 timings still fits).
MAX_TRIAL_RENDERS = 600
PREPARED_CACHE_SIZE = 64


def _blank_none(value: Any) -> Any:
    # A resident who has not chosen a district prints as nothing, never as "None".
    return "" if value is None else value


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
        self._facts_cache: OrderedDict[str, TemplateFacts] = OrderedDict()
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
        params = check_parameters(
            parameters, helpers=self.env.globals, max_bytes=self.budget.parameters_bytes
        )
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
        key = (template_name, json.dumps(sorted(sources.items())), parameters_key(params))
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
            name, line = min(((n, first_line(facts.ast, n)) for n in unknown), key=lambda t: t[1])
            raise TemplateError(
                f"{label}, line {line}: {name!r} is neither a broadcast parameter "
                "nor a resident field",
                "template.unknown_name",
                **template_at(label, line),
                name=name,
            )
        fields = set(facts.fields)
        for ref in facts.references:
            if ref is None:
                raise TemplateError(
                    f"{label}: include/import of a computed name is not allowed",
                    "template.computed_include",
                    **template_at(label),
                )
            if ref not in seen:
                seen.add(ref)
                fields |= self._analyse(self._source(ref), f"template {ref!r}", params, seen)
        return fields

    def _facts(self, source: str, label: str) -> TemplateFacts:
        """What static checks need of a template's text, cached by that text: each order
        has new parameters, so the prepared cache misses, but its seven templates are the
        same each time (analysing them anew cost ~15 ms before its first request)."""
        facts = self._facts_cache.get(source)
        if facts is None:
            facts = self._facts_cache[source] = read_facts(self.env, source, label)
            while len(self._facts_cache) > PREPARED_CACHE_SIZE:
                self._facts_cache.popitem(last=False)
        self._facts_cache.move_to_end(source)
        return facts

    def _trial_residents(self, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        choices = [self.languages if f == "language" else self._samples[f] for f in fields]
        for values in itertools.islice(itertools.product(*choices), MAX_TRIAL_RENDERS):
            yield dict(zip(fields, values, strict=True))


def _base_of(name: str) -> str:
    name = name.strip()
    match = _FILE_NAME.fullmatch(name)
    if match:
        return match["base"]
    return name.removesuffix(".j2")
