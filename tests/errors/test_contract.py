"""The API's contract as a whole: every route declares what it answers and how it refuses,
every moment it shows is in the city's zone, and every refusal code has its Japanese and
English text. Each test walks everything (routes, raise sites, responses) rather than
listing cases, so a route or code added later is checked without a new test."""

from __future__ import annotations

import ast
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broadcaster import errors
from broadcaster.app import create_app
from broadcaster.broadcast_requests import BroadcastRefused
from broadcaster.catalog import LANGUAGES, text
from broadcaster.emergency.order_requests import OrderRefused
from broadcaster.errors import FieldError, NotFound, Refused, field_messages
from segments.rule_errors import RuleError
from tests.broadcasts.conftest import notice
from tests.clock import freeze_time
from tests.conftest import auth, make_settings

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-05-01 09:00:00+09:00"
Counts = Callable[[], dict[str, int]]


def _document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        return create_app(make_settings(Path(directory)), background=False).openapi()


DOCUMENT = _document()
PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if path.startswith("/api/"):
                yield method.upper(), path, operation


def _typed(schema: dict[str, Any]) -> bool:
    """A schema that says what is in the answer (not `{}` or a bare object)."""
    if not schema:
        return False
    if schema.get("type") == "object" and not schema.get("properties"):
        extra = schema.get("additionalProperties")
        return isinstance(extra, dict) and _typed(extra)
    return True


def test_every_api_route_declares_its_answer_and_its_refusals() -> None:
    missing: list[str] = []
    for method, path, operation in _operations():
        responses = operation["responses"]
        ok = [
            status
            for status, response in responses.items()
            if status.startswith("2")
            and (
                status == "204"
                or any(_typed(c.get("schema", {})) for c in response.get("content", {}).values())
            )
        ]
        if not ok:
            missing.append(f"{method} {path}: no typed 2xx answer")
        expected = {"401", "403", "422"}
        if "{" in path:
            expected.add("404")
        if "requestBody" in operation:
            expected |= {"400", "413"}
        for status in sorted(expected):
            content = responses.get(status, {}).get("content", {})
            if content.get("application/problem+json", {}).get("schema") != PROBLEM:
                missing.append(f"{method} {path}: {status} is not a problem document")
    assert not missing, "\n".join(missing)
    assert len(list(_operations())) > 60


# -- the catalog -------------------------------------------------------------------------

_KINDS = {k.__name__ for k in vars(errors).values() if isinstance(k, type)} | {
    "BroadcastRefused",
    "kind",  # refusals.py's `_BY_STATUS` lookup
}
# A feature's refusal, and where its code is among its arguments.
_CODE_AT = {
    "BroadcastRefused": 2,
    "OrderRefused": 1,
    "RuleError": 2,
    "SurveyRefused": 1,
    "refused_at": 2,
    "SegmentError": 1,
    "TemplateError": 1,
    "RenderBudgetExceeded": 1,
    "RecurrenceError": 1,
    "RowError": 3,
    "Skipped": 3,
}
# Feature refusals whose every raise must name a code: without one, staff would read the
# English sentence (CalendarError, AlertError and RowError take it as `code=`).
_MUST_CODE = {
    "CalendarError",
    "AlertError",
    "TemplateError",
    "RenderBudgetExceeded",
    "RecurrenceError",
    "RowError",
    "Skipped",
    "OrderRefused",
    "SurveyRefused",
    "RuleError",
}
_CODE = re.compile(r"^[a-z_0-9]+(\.[a-z_0-9]+)+$")


def _raised_codes() -> dict[str, str]:
    """Every code a refusal is raised with in broadcaster/ and segments/: a DomainError's
    first argument, `not_found("x")`, the code argument of the feature refusals, and
    every `code=` keyword (FieldError, RuleError)."""
    found: dict[str, str] = {}
    for root in ("broadcaster", "segments"):
        for file in (REPO / root).rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = getattr(func, "id", None) or getattr(func, "attr", "")
                texts = [
                    a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None
                    for a in node.args
                ]
                candidates: list[str | None] = []
                if name in _KINDS and texts:
                    candidates.append(texts[0])
                if name in _CODE_AT and len(texts) > _CODE_AT[name]:
                    candidates.append(texts[_CODE_AT[name]])
                if name == "not_found" and texts and texts[0]:
                    candidates.append(f"not_found.{texts[0]}")
                for keyword in node.keywords:
                    if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                        candidates.append(keyword.value.value)
                for code in candidates:
                    if isinstance(code, str) and _CODE.match(code):
                        found.setdefault(code, str(file.relative_to(REPO)))
    return found


def _uncoded_raises() -> list[str]:
    """Each construction of a feature refusal that gives no code (`file:line Name`)."""
    found: list[str] = []
    for root in ("broadcaster", "segments"):
        for file in (REPO / root).rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
                if name not in _MUST_CODE:
                    continue
                coded = any(k.arg in ("code", None) for k in node.keywords) or (
                    name in _CODE_AT and len(node.args) > _CODE_AT[name]
                )
                if not coded:
                    found.append(f"{file.relative_to(REPO)}:{node.lineno} {name}")
    return found


def _reason_and_term_codes() -> dict[str, str]:
    """Codes a refusal is built from without a call naming them: why a series is skipped
    (`return "English", "calendar.series.x", {...}`) and the words `{name!t}` fills in
    (`type.number`, `term.inline_template`, `attribute_kind.<configured kind>`)."""
    found: dict[str, str] = {
        f"attribute_kind.{kind}": "settings.extra_attributes"
        for kind in ("string", "integer", "boolean", "date")
    }
    for root in ("broadcaster", "segments"):
        for file in (REPO / root).rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and node.value.startswith(("type.", "term."))
                    and _CODE.match(node.value)
                ):
                    found.setdefault(node.value, str(file.relative_to(REPO)))
                if (
                    isinstance(node, ast.Return)
                    and isinstance(node.value, ast.Tuple)
                    and len(node.value.elts) == 3
                    and isinstance(code := node.value.elts[1], ast.Constant)
                    and isinstance(code.value, str)
                    and _CODE.match(code.value)
                ):
                    found.setdefault(code.value, str(file.relative_to(REPO)))
    return found


def test_every_feature_refusal_is_raised_with_a_code() -> None:
    uncoded = _uncoded_raises()
    assert not uncoded, "\n".join(uncoded)


def test_feature_refusals_are_worded_in_japanese_with_their_parameters() -> None:
    from broadcaster.catalog import text as worded

    assert worded("rule.expected_integer", "ja", {"got": "type.string"}) == (
        "整数を指定してください（指定: 文字列）。"
    )
    assert worded("csv.not_number", "ja", {"line": 3, "column": "緯度", "value": "abc"}) == (
        "3 行目: 列「緯度」の値「abc」は数値ではありません。"
    )
    syntax = {"template": "term.inline_template", "line": 2, "problem": "unexpected '}'"}
    assert worded("template.syntax", "ja", syntax) == (
        "テンプレート（本文）の 2 行目: 書き方に誤りがあります（unexpected '}'）。"
    )
    assert worded("template.syntax", "en", syntax) == (
        "template text, line 2: syntax error: unexpected '}'"
    )


def test_every_refusal_code_has_japanese_and_english_text() -> None:
    codes = _raised_codes()
    codes.update(_reason_and_term_codes())
    assert "calendar.series.no_dtstart" in codes and "type.number" in codes
    # Kinds, titles and the two generated families are worded too.
    codes.update({f"title.{kind.name}": "errors.Kind" for kind in errors.Kind})
    codes.update({"http.404": "problems", "http.405": "problems", "validation.other": "catalog"})
    missing = [
        f"{code} ({where}): no {language}"
        for code, where in sorted(codes.items())
        for language in LANGUAGES
        if text(code, language) is None
    ]
    assert not missing, "\n".join(missing)
    assert len(codes) > 60  # the walk finds the raise sites


def test_a_domain_refusal_is_worded_in_japanese_field_by_field() -> None:
    refused = BroadcastRefused(
        "title must not be empty", "title", "broadcast.title_empty"
    )
    assert field_messages(refused) == {"title": "件名を入力してください。"}
    assert field_messages(refused, "en") == {"title": "title must not be empty"}
    assert errors.describe(refused).startswith("配信の内容に修正が必要です。")
    assert errors.describe(refused, "en") == "title must not be empty"


def test_field_messages_converts_feature_refusals_and_joins_one_paths_messages() -> None:
    two = Refused(
        "invalid_request",
        errors=[
            FieldError("send_at", code="validation.missing"),
            FieldError("send_at", code="validation.no_such_kind", text="Value error, odd"),
        ],
    )
    assert field_messages(two) == {"send_at": "必須の項目です。 この項目の値を受け付けられません。"}
    assert field_messages(two, "en")["send_at"].endswith("Value error, odd")
    rule = field_messages(RuleError("all[0].field", "unknown field 'x'"))
    assert list(rule) == ["rule.all[0].field"]
    order = OrderRefused("districts must name a district", path="districts")
    assert field_messages(order) == {"districts": "districts must name a district"}
    assert field_messages(NotFound("not_found.broadcast", ident=3)) == {}
    assert field_messages(ValueError("no refusal")) == {}


def test_a_feature_refusal_without_a_converter_of_its_own_is_refused_at_its_field() -> None:
    """A feature's new refusal is a 422 in the reader's words from its first raise, never a
    500 waiting for a line in `api.refusals`."""
    from broadcaster.api.refusals import as_domain_error
    from broadcaster.recurrence import RecurrenceError

    weekday = RecurrenceError("day_of_week '9' is not 0-7", "recurrence.weekday", value="9")
    found = as_domain_error(weekday)
    assert isinstance(found, Refused) and found.kind.status == 422
    assert found.code == "recurrence.weekday" and found.errors == ()
    assert errors.describe(found) == text("recurrence.weekday", "ja", {"value": "9"})
    at_field = RecurrenceError("odd", "recurrence.weekday", path="recurrence", value="9")
    assert list(field_messages(at_field)) == ["recurrence"]


# -- one timestamp format ----------------------------------------------------------------

_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _moments(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _moments(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _moments(item, f"{where}[{index}]")
    elif isinstance(value, str) and _MOMENT.match(value):
        yield where, value


@freeze_time(NOW)
def test_every_moment_in_the_main_answers_is_in_the_citys_zone(
    app_client: TestClient, tokens: dict[str, str], cast: dict[str, Any]
) -> None:
    admin = auth(tokens["情報政策課"])
    desk = auth(tokens["危機管理課"])
    created = app_client.post("/api/v1/broadcasts", json=notice(), headers=admin)
    assert created.status_code == 201, created.text
    broadcast = created.json()["id"]
    shelter = app_client.post(
        "/api/v1/shelters",
        json={"name": "中央小学校", "address": "中央1-1", "district": "中央",
              "latitude": 35.0, "longitude": 135.0, "kinds": ["洪水"]},
        headers=desk,
    )
    assert shelter.status_code == 201, shelter.text
    assert app_client.post(f"/api/v1/shelters/{shelter.json()['id']}/open", headers=desk).is_success
    order = app_client.post(
        "/api/v1/emergencies",
        json={"level": 4, "districts": ["中央"], "kind": "洪水", "text": "避難してください。"},
        headers=desk,
    )
    assert order.status_code == 201, order.text
    segment = app_client.post(
        "/api/v1/segments",
        json={"name": "中央の世帯", "rule": {"field": "district", "op": "eq", "value": "中央"}},
        headers=admin,
    )
    assert segment.status_code == 201, segment.text
    urls = [
        "/api/v1/broadcasts",
        f"/api/v1/broadcasts/{broadcast}",
        f"/api/v1/broadcasts/{broadcast}/deliveries",
        "/api/v1/departments",
        "/api/v1/audit",
        "/api/v1/segments",
        f"/api/v1/segments/{segment.json()['id']}",
        "/api/v1/emergencies",
        f"/api/v1/emergencies/{order.json()['id']}",
        "/api/v1/shelters",
        "/api/v1/benefits",
        "/api/v1/surveys",
        "/api/v1/alerts",
        "/api/v1/calendars/imports",
        "/api/v1/kpis/report",
    ]
    seen: list[tuple[str, str]] = []
    for url in urls:
        response = app_client.get(url, headers=admin)
        assert response.status_code == 200, (url, response.text)
        seen += [(url + where, value) for where, value in _moments(response.json())]
    wrong = [f"{where}: {value}" for where, value in seen if not value.endswith("+09:00")]
    assert not wrong, "\n".join(wrong)
    assert len(seen) > 40
    # The moment itself is kept: the broadcast is at 10:00 in Tokyo.
    assert app_client.get(f"/api/v1/broadcasts/{broadcast}", headers=admin).json()[
        "send_at"
    ] == "2026-05-01T10:00:00+09:00"


@pytest.mark.parametrize("language", ["ja", ""])
def test_field_messages_of_validation_are_japanese_by_default(
    app_client: TestClient, tokens: dict[str, str], counts: Counts, language: str
) -> None:
    before = counts()
    response = app_client.post(
        "/api/v1/shelters",
        json={"name": "", "address": "x", "district": "中央", "latitude": 200,
              "longitude": "east", "kinds": "洪水", "extra": {"a": 1}},
        headers={**auth(tokens["危機管理課"]), "Accept-Language": language},
    )
    assert response.status_code == 422, response.text
    messages = [item["message"] for item in response.json()["errors"]]
    assert messages and all(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", m) for m in messages), (
        messages
    )
    assert counts() == before
