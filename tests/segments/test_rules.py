"""Parsing refuses bad rules with the exact path; compiling follows the documented ages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segments.audience import audience_filter
from segments.compiler import birthday_cutoff
from segments.fields import FieldCatalog, catalog_json
from segments.residents import Resident, ResidentOptOut
from segments.rule_errors import RuleError
from segments.rule_parser import parse_rule
from segments.rules import rule_to_json
from tests.conftest import ResidentFactory

REFUSALS: list[tuple[Any, str, str]] = [
    (
        {
            "all": [
                {"field": "district", "op": "eq", "value": "中央"},
                {"field": "district", "op": "in", "value": ["北", "中火"]},
            ]
        },
        "all[1].value[1]",
        "unknown district '中火' (known: 中央, 北",
    ),
    ({"field": "income", "op": "eq", "value": 1}, "field", "unknown field 'income'"),
    ({"field": "age", "op": "contains", "value": 3}, "op", "does not apply to age"),
    ({"field": "age", "op": "gte", "value": "65"}, "value", "expected an integer, got a string"),
    ({"field": "age", "op": "gte", "value": True}, "value", "expected an integer, got a boolean"),
    ({"field": "age", "op": "between", "value": [70, 60]}, "value", "above high"),
    ({"field": "interests", "op": "contains", "value": "釣り"}, "value", "unknown interest '釣り'"),
    ({"field": "子育て世帯", "op": "eq", "value": "yes"}, "value", "expected true or false"),
    ({"field": "転入日", "op": "gte", "value": "2024-13-01"}, "value", "not a date"),
    ({"field": "language", "op": "in", "value": []}, "value", "at least one value"),
    ({"any": []}, "any", "at least one rule"),
    ({"all": {"field": "district"}}, "all", "expected a list of rules"),
    ({"not": {"all": [{"field": "district", "op": "eq"}]}}, "not.all[0].value", "missing"),
    ({"all": [], "any": []}, "", "must be alone"),
    ({"field": "district", "op": "eq", "value": "北", "extra": 1}, "extra", "unknown key"),
    ([], "", "expected an object, got a list"),
    ({"foo": 1}, "", "expected 'all', 'any', 'not'"),
    (
        {
            "not": {
                "not": {"not": {"not": {"not": {"not": {"field": "age", "op": "eq", "value": 1}}}}}
            }
        },
        "not.not.not.not.not.not",
        "nested too deeply",
    ),
]


@pytest.mark.parametrize(("data", "path", "message"), REFUSALS)
def test_bad_rules_are_refused_naming_the_path(
    catalog: FieldCatalog, data: Any, path: str, message: str
) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(data, catalog)
    assert caught.value.path == path
    assert message in caught.value.message
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(path or "rule")


def test_a_parsed_rule_round_trips_to_canonical_json(catalog: FieldCatalog) -> None:
    data = {
        "any": [
            {"field": "転入日", "op": "between", "value": ["2024-01-01", "2024-12-31"]},
            {"not": {"field": "高齢者のみ世帯", "op": "is_set", "value": False}},
        ]
    }
    rule = parse_rule(data, catalog)
    assert rule_to_json(rule) == data
    assert parse_rule(rule_to_json(rule), catalog) == rule


def test_the_catalog_lists_configured_flags_and_extras(catalog: FieldCatalog) -> None:
    described = {entry["field"]: entry for entry in catalog_json(catalog)}
    assert described["子育て世帯"]["type"] == "boolean"
    assert described["要介護度"]["ops"] == [
        "between",
        "eq",
        "gte",
        "in",
        "is_set",
        "lte",
        "ne",
        "not_in",
    ]
    assert "中央" in described["district"]["choices"]


@pytest.mark.parametrize(
    ("on", "age", "cutoff"),
    [
        (dt.date(2026, 4, 1), 65, dt.date(1961, 4, 1)),
        (dt.date(2024, 2, 29), 1, dt.date(2023, 2, 28)),  # a common year has no 29 February
        (dt.date(2024, 2, 29), 4, dt.date(2020, 2, 29)),
    ],
)
def test_birthday_cutoff(on: dt.date, age: int, cutoff: dt.date) -> None:
    assert birthday_cutoff(on, age) == cutoff


def test_a_leap_day_baby_turns_a_year_older_on_first_march(
    engine: Engine, make_resident: ResidentFactory, catalog: FieldCatalog
) -> None:
    leapling = make_resident(birth_date=dt.date(2008, 2, 29))
    adult = parse_rule({"field": "age", "op": "gte", "value": 18}, catalog)
    with engine.connect() as connection:

        def adults(on: dt.date) -> set[int]:
            where = audience_filter(adult, on=on, category=None)
            return set(connection.scalars(sa.select(Resident.id).where(where)))

        assert adults(dt.date(2026, 2, 28)) == set()
        assert adults(dt.date(2026, 3, 1)) == {leapling.id}


def test_age_from_a_birth_year_alone_counts_this_years_birthday(
    engine: Engine, make_resident: ResidentFactory, catalog: FieldCatalog
) -> None:
    known_year = make_resident(birth_year=1961)
    rule = parse_rule({"field": "age", "op": "eq", "value": 65}, catalog)
    with engine.connect() as connection:
        where = audience_filter(rule, on=dt.date(2026, 1, 2), category=None)
        assert set(connection.scalars(sa.select(Resident.id).where(where))) == {known_year.id}


def test_audience_skips_blocked_and_opted_out_residents_unless_told_otherwise(
    engine: Engine, make_resident: ResidentFactory, cast: dict[str, Resident], catalog: FieldCatalog
) -> None:
    make_resident(follow_state="blocked")
    with engine.begin() as connection:
        connection.execute(
            sa.insert(ResidentOptOut.__table__),
            {"resident_id": cast["family"].id, "category": "events"},  # type: ignore[attr-defined]
        )
    on = dt.date(2026, 4, 1)
    with engine.connect() as connection:

        def ids(**kwargs: Any) -> set[int]:
            return set(
                connection.scalars(
                    sa.select(Resident.id).where(audience_filter(None, on=on, **kwargs))
                )
            )

        everyone = {cast[name].id for name in ("family", "senior", "english")}
        assert ids(category=None) == everyone
        assert ids(category="events") == everyone - {cast["family"].id}
        assert ids(category="events", respect_opt_outs=False) == everyone
