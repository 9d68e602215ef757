"""The refusals of feature modules, as domain errors: one table instead of a try per route.

Feature modules (segments, garbage, emergency, surveys, residents) keep their own exception
types, each a `FeatureRefusal` with the detail its callers need (a rule's path, a
calendar's skipped series), or a CSV importer's list of bad rows. Routes let them
propagate; `as_domain_error` turns each into the `DomainError` the problem handler shows,
once: this table decides the kind of answer and the problem's code. A `FeatureRefusal`
with no entry of its own is a 422 at its path. The session dependency has already rolled
the request's transaction back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broadcaster.emergency.alert import AlertError
from broadcaster.emergency.order_requests import OrderRefused
from broadcaster.emergency.shelters import ShelterImportError
from broadcaster.errors import (
    Conflict,
    DomainError,
    FeatureRefusal,
    FieldError,
    Kind,
    Malformed,
    NotFound,
    Refused,
    TooLarge,
    Unavailable,
)
from broadcaster.garbage.changes import ChangeError
from broadcaster.garbage.days import Skipped
from broadcaster.garbage.ical import CalendarError
from broadcaster.kpis.surveys import SurveyRefused
from broadcaster.render import TemplateError
from segments.import_rows import RowError
from segments.importer import ImportRejected
from segments.rule_errors import RuleError
from segments.saved import SegmentError

# A file with 200,000 bad rows is refused with the first ones listed and the count: the
# whole list made a 10 s, 60 MB answer (built on the event loop).
MAX_LISTED = 100


def _rule(exc: RuleError) -> DomainError:
    path = f"rule.{exc.path}" if exc.path else "rule"
    return Refused("rule.invalid", f"{path}: {exc.message}", errors=[exc.at(path)])


def _segment(exc: SegmentError) -> DomainError:
    return Conflict(exc.code or "segment.conflict", str(exc), **exc.params)


def _order(exc: OrderRefused) -> DomainError:
    if exc.path == "status":
        return Conflict("emergency.conflict", exc.message, errors=[exc.at()])
    return Refused("emergency.refused", exc.message, errors=[exc.at()])


def _survey(exc: SurveyRefused) -> DomainError:
    return Refused("survey.refused", exc.message, errors=[exc.at()])


_BY_STATUS: dict[int, type[DomainError]] = {
    Kind.malformed.status: Malformed,
    Kind.too_large.status: TooLarge,
    Kind.not_found.status: NotFound,
    Kind.conflict.status: Conflict,
    Kind.unavailable.status: Unavailable,
}


def _alert(exc: AlertError) -> DomainError:
    kind = _BY_STATUS.get(exc.status, Refused)
    return kind("alert.refused", exc.message, errors=[exc.at()])


def _shelters(exc: ShelterImportError) -> DomainError:
    return Refused(
        "shelters.csv_refused",
        str(exc),
        errors=[_row(p) for p in exc.problems[:MAX_LISTED]],
        count=len({p.line for p in exc.problems}),
    )


def _residents(exc: ImportRejected) -> DomainError:
    return Refused(
        "residents.csv_refused",
        errors=[_row(e) for e in exc.errors[:MAX_LISTED]],
        count=len({e.line for e in exc.errors}),
    )


def _row(error: RowError) -> FieldError:
    """A bad cell of a CSV at `file.line[n].column`, its message from the catalog with
    the line and column (「4 行目: 列「緯度」の値…」)."""
    params = {"line": error.line, "column": error.column or "", **error.params}
    path = f"file.line[{error.line}]" + (f".{error.column}" if error.column else "")
    return FieldError(path, code=error.code, params=params, text=str(error))


def _calendar(exc: CalendarError) -> DomainError:
    return Refused(
        "calendar.refused",
        str(exc),
        errors=[exc.at(), *(_series(s) for s in exc.skipped[:MAX_LISTED])],
        count=len(exc.skipped),
    )


def _series(skipped: Skipped) -> FieldError:
    """A series left out, at the line it begins on when the file says (iCal)."""
    params = {
        "uid": skipped.uid or "?",
        # {summary!t}: an event without SUMMARY is named in the reader's language.
        "summary": skipped.summary or "term.no_summary",
        "line": skipped.line,
        **skipped.params,
    }
    path = f"file.line[{skipped.line}]" if skipped.line else "file"
    return FieldError(path, code=skipped.code, params=params, text=str(skipped))


def _change(exc: ChangeError) -> DomainError:
    if getattr(exc, "not_found", False):
        return NotFound(exc.code or "calendar.day_not_found", str(exc), **exc.params)
    return Refused(exc.code or "calendar.change_refused", str(exc), **exc.params)


def _template(exc: TemplateError) -> DomainError:
    return Refused("template.invalid", exc.message, errors=[exc.at("template")])


def _refusal(exc: FeatureRefusal) -> DomainError:
    at_field = [exc.at()] if exc.path else []
    return Refused(exc.code or "refused", exc.message, errors=at_field, **exc.params)


CONVERTERS: dict[type[Exception], Callable[[Any], DomainError]] = {
    RuleError: _rule,
    SegmentError: _segment,
    OrderRefused: _order,
    SurveyRefused: _survey,
    AlertError: _alert,
    ShelterImportError: _shelters,
    ImportRejected: _residents,
    CalendarError: _calendar,
    ChangeError: _change,
    TemplateError: _template,
    FeatureRefusal: _refusal,  # last in every refusal's MRO: its own entry comes first
}


def as_domain_error(exc: Exception) -> DomainError | None:
    """The domain error `exc` stands for, or None when it is no refusal (a bug: 500)."""
    if isinstance(exc, DomainError):
        return exc
    for kind in type(exc).__mro__:
        convert = CONVERTERS.get(kind)
        if convert is not None:
            return convert(exc)
    return None
