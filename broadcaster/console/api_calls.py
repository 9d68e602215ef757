"""A page that changes data calls the API's own route function: one place turns that
call's refusal into what a page shows, so every page refuses what the API refuses, worded
the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from broadcaster.api.problems import validation_error
from broadcaster.api.refusals import as_domain_error
from broadcaster.catalog import text as catalog_text
from broadcaster.console.web import refusal
from broadcaster.errors import DomainError

T = TypeVar("T")


def attempt(
    session: Session, call: Callable[[], T], field_codes: Mapping[str, str] | None = None
) -> T | dict[str, Any]:
    """Run one API call: its answer (a response model as plain data), or, for a refusal,
    the session rolled back and `{"detail", "fields"}` (a Japanese message per form
    control). `field_codes` gives a page's own message for a top-level field (all of
    `rule.all[1].value` under `rule`), instead of the domain's message for developers.
    Anything that is no refusal is re-raised after the rollback."""
    try:
        answer = call()
        # The API's routes answer response models; pages read them as plain data.
        return answer.model_dump() if isinstance(answer, BaseModel) else answer  # type: ignore[return-value]
    except ValidationError as exc:
        error: DomainError | None = validation_error(exc.errors())
    except Exception as exc:  # refusals are answered; anything else is re-raised
        error = as_domain_error(exc)
        if error is None:
            session.rollback()
            raise
    session.rollback()
    assert error is not None
    shown = refusal(error)
    fields: dict[str, str] = {}
    for path, message in shown["fields"].items():
        top = path.split(".")[0].split("[")[0]
        code = (field_codes or {}).get(top)
        fields[top if code else path] = (code and catalog_text(code, "ja")) or message
    return {"detail": shown["detail"], "fields": fields}


def refusal_of(result: object) -> dict[str, Any] | None:
    """`attempt`'s answer if it is a refusal, else None."""
    return result if isinstance(result, dict) and "fields" in result else None
