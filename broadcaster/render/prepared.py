"""A template validated and bound to its parameters: rendering it is pure and cheap.

`Renderer.prepare` makes one per broadcast; the dispatcher renders it once per distinct
combination of the resident fields it reads. Every render is metered (render_budget), its
output parsed into LINE message objects (messages) and checked against LINE's limits
(limits); any failure comes out as a TemplateError naming the template line it was at.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from broadcaster.limits import check_messages
from broadcaster.messages import HelperError, MessageMarkers
from broadcaster.render.template_error import INLINE_LABEL, TemplateError, template_at
from broadcaster.render_budget import RenderBudget, RenderBudgetExceeded, metering, render_metered

# Every template has a Japanese variant (`<name>.ja.j2`), used for a language without its own.
FALLBACK_LANGUAGE = "ja"


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
                **template_at(self.label),
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
        where, at = self.label, template_at(self.label)
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == "<template>":
                where = f"{INLINE_LABEL}, line {frame.lineno}"
                at = template_at(INLINE_LABEL, frame.lineno or 0)
            elif frame.filename.startswith(self._templates_dir) and frame.filename.endswith(".j2"):
                where = f"template {Path(frame.filename).name!r}, line {frame.lineno}"
                at = template_at(Path(frame.filename).name, frame.lineno or 0)
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
