"""Every refusal the HTTP interface gives, in one shape: RFC 9457 problem details.

```json
{"type": "urn:broadcaster:problem:not_found.broadcast", "title": "見つかりません",
 "status": 404, "detail": "配信 7 は見つかりません。", "code": "not_found.broadcast",
 "errors": [{"path": "send_at", "message": "..."}]}
```

One handler per source of refusals, all producing that body with
`Content-Type: application/problem+json`: our `DomainError`s, FastAPI's request
validation (422, one `errors` item per bad field) and Starlette's HTTP exceptions (an
unknown route, a wrong method). The texts are chosen by `Accept-Language` (default ja).
`PROBLEM_RESPONSES` documents the statuses in OpenAPI for every route.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from broadcaster.api.refusals import CONVERTERS, MAX_LISTED, as_domain_error
from broadcaster.catalog import detail_text, field_text, negotiate, text, title
from broadcaster.errors import DomainError, FieldError, Kind, Malformed, Refused

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:broadcaster:problem:"


class ProblemField(BaseModel):
    path: str = Field(description="where in the request: `send_at`, `rule.all[1].value`")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with our stable `code` and the fields to fix."""

    type: str = Field(description="urn:broadcaster:problem:<code>")
    title: str
    status: int
    detail: str
    code: str = Field(description="stable; branch on this, not on the text")
    errors: list[ProblemField] = Field(default_factory=list)


_DESCRIPTIONS = {
    400: "The body cannot be read (not JSON, nested too deep)",
    401: "No API token, or an unknown or revoked one",
    403: "The token's role may not do this",
    404: "No such resource (or another department's)",
    409: "The resource is in a state that does not allow this",
    413: "The request body is over this route's limit",
    422: "The request is well-formed but refused; `errors` names each field to fix",
    503: "A part the service needs is not available now",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "model": Problem, "content": {MEDIA_TYPE: {}}}
    for status, description in _DESCRIPTIONS.items()
}


def language_of(request: Request) -> str:
    return negotiate(request.headers.get("accept-language"))


def problem_body(error: DomainError, language: str) -> dict[str, Any]:
    """The problem document of `error` in `language` (also used by the body limit)."""
    return Problem(
        type=TYPE_PREFIX + error.code,
        title=title(error, language),
        status=error.kind.status,
        detail=detail_text(error, language),
        code=error.code,
        errors=[
            ProblemField(path=item.path, message=field_text(item, language))
            for item in error.errors
        ],
    ).model_dump()


def problem_response(error: DomainError, language: str) -> JSONResponse:
    headers = {"Content-Language": language, **error.headers}
    return JSONResponse(
        problem_body(error, language),
        status_code=error.kind.status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    error = as_domain_error(exc)
    if error is None:  # registered only for types it converts
        raise exc
    return problem_response(error, language_of(request))


def _path(location: Sequence[Any]) -> str:
    """`("body", "rule", "all", 1)` -> `rule.all[1]`; query and path keep their source."""
    parts = list(location)
    if parts and parts[0] == "body":
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def validation_error(errors: Sequence[Any]) -> DomainError:
    """FastAPI's (pydantic's) validation errors as one refusal with a field per error
    (the first MAX_LISTED of them; `count` says how many there are)."""
    fields: list[FieldError] = []
    for item in errors[:MAX_LISTED]:
        kind = str(item.get("type", ""))
        context = {k: v for k, v in (item.get("ctx") or {}).items() if isinstance(v, int | str)}
        message = str(item.get("msg", ""))
        fields.append(
            FieldError(
                _path(item.get("loc", ())),
                code=f"validation.{kind}",
                params={**context, "input": _short(item.get("input"))},
                text=message,
            )
        )
    if any(str(item.get("type")) == "json_invalid" for item in errors):
        return Malformed("malformed.json", errors=fields)
    return Refused("invalid_request", errors=fields, count=len(fields))


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(validation_error(exc.errors()), language_of(request))


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    language = language_of(request)
    status = exc.status_code
    code = f"http.{status}"
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    detail = text(code, language) or (exc.detail if isinstance(exc.detail, str) else phrase)
    kind = next((k for k in Kind if k.status == status), None)
    body = Problem(
        type=TYPE_PREFIX + code,
        title=(text(f"title.{kind.name}", language) if kind else None) or phrase,
        status=status,
        detail=detail,
        code=code,
    ).model_dump()
    headers = {"Content-Language": language, **(exc.headers or {})}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _problem_media(document: dict[str, Any]) -> dict[str, Any]:
    """Put the problem schema under `application/problem+json`, the type refusals are sent
    as: FastAPI files a response's `model` under the route's own type (application/json)."""
    for operation in (op for path in document.get("paths", {}).values() for op in path.values()):
        for response in operation.get("responses", {}).values():
            content = response.get("content", {})
            if MEDIA_TYPE in content and "application/json" in content:
                schema = content.pop("application/json").get("schema")
                if schema is not None:
                    content[MEDIA_TYPE] = {"schema": schema}
    return document


def install(app: FastAPI) -> None:
    """Register the handlers: after this, no route answers a refusal in another shape."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _problem_media(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_exception_handler(DomainError, _domain)
    for kind in CONVERTERS:
        app.add_exception_handler(kind, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
