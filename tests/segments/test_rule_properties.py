"""For random rules and residents, the SQL audience equals the plain-Python reading of the
rule (tests/segments/evaluator.py), on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from segments.audience import audience_filter
from segments.fields import OPS, FieldCatalog, FieldSpec, Kind, Op, Storage
from segments.residents import Resident, ResidentAttribute, ResidentInterest, ResidentOptOut
from segments.rule_parser import parse_rule
from tests.conftest import T0, make_settings
from tests.segments.conftest import EXTRA_ATTRIBUTES
from tests.segments.evaluator import PlainResident, in_audience

SETTINGS = make_settings(
    Path(tempfile.gettempdir()), **{"residents.extra_attributes": EXTRA_ATTRIBUTES}
)
RESIDENTS = SETTINGS.residents
CATALOG = FieldCatalog.from_settings(RESIDENTS)
KINDS = {name: spec.kind.value for name, spec in CATALOG.fields.items()}
ATTRIBUTES = [name for name, spec in CATALOG.fields.items() if spec.storage is Storage.attribute]

# Leap days and their neighbours are where age arithmetic goes wrong.
TRICKY_DATES = [
    dt.date(1960, 2, 29),
    dt.date(1961, 2, 28),
    dt.date(1961, 3, 1),
    dt.date(1964, 2, 29),
]
birth_dates = st.one_of(
    st.sampled_from(TRICKY_DATES), st.dates(dt.date(1915, 1, 1), dt.date(2026, 12, 31))
)
send_dates = st.one_of(
    st.sampled_from(
        [dt.date(2024, 2, 29), dt.date(2025, 2, 28), dt.date(2025, 3, 1), dt.date(2026, 4, 1)]
    ),
    st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
)
town_councils = ["東町", "西町", "桜台"]


def scalar(spec: FieldSpec) -> st.SearchStrategy[Any]:
    if spec.choices:
        return st.sampled_from(spec.choices)
    if spec.name == "age":
        return st.integers(0, 110)
    if spec.name == "birth_year":
        return st.integers(1915, 2026)
    if spec.kind is Kind.integer:
        return st.integers(0, 5)
    if spec.kind is Kind.date:
        return st.dates(dt.date(2018, 1, 1), dt.date(2026, 12, 31)).map(dt.date.isoformat)
    if spec.kind is Kind.boolean:
        return st.booleans()
    return st.sampled_from(town_councils)


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    spec = draw(st.sampled_from(list(CATALOG.fields.values())))
    op = draw(st.sampled_from(sorted(OPS[spec.kind])))
    if op is Op.is_set:
        value: Any = draw(st.booleans())
    elif op in (Op.in_, Op.not_in, Op.contains_any):
        value = draw(st.lists(scalar(spec), min_size=1, max_size=3))
    elif op is Op.between:
        value = sorted(draw(st.lists(scalar(spec), min_size=2, max_size=2)))
    else:
        value = draw(scalar(spec))
    return {"field": spec.name, "op": op.value, "value": value}


rules = st.recursive(
    conditions(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"all": items}),
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"any": items}),
        children.map(lambda child: {"not": child}),
    ),
    max_leaves=6,
)


@st.composite
def residents(draw: st.DrawFn) -> PlainResident:
    attribute_values = {
        "要介護度": st.integers(0, 5).map(str),
        "転入日": st.dates(dt.date(2018, 1, 1), dt.date(2026, 12, 31)).map(dt.date.isoformat),
        "自治会": st.sampled_from(town_councils),
    }
    attributes = {}
    for name in ATTRIBUTES:
        strategy = attribute_values.get(name, st.sampled_from(["true", "false"]))
        value = draw(st.none() | strategy)
        if value is not None:
            attributes[name] = value
    return PlainResident(
        district=draw(st.none() | st.sampled_from(RESIDENTS.districts)),
        garbage_zone=draw(st.none() | st.sampled_from(RESIDENTS.zones)),
        language=draw(st.sampled_from(RESIDENTS.languages)),
        reminder_timing=draw(st.sampled_from(["eve", "morning", "off"])),
        follow_state=draw(st.sampled_from(["following", "following", "blocked"])),
        birth_date=draw(st.none() | birth_dates),
        birth_year=draw(st.none() | st.integers(1915, 2026)),
        interests=draw(st.sets(st.sampled_from(RESIDENTS.interests), max_size=3)),
        attributes=attributes,
        opt_outs=draw(st.sets(st.sampled_from(RESIDENTS.categories[:3]), max_size=2)),
    )


def _insert(connection: sa.Connection, population: list[PlainResident]) -> None:
    for number, person in enumerate(population, start=1):
        connection.execute(
            sa.insert(Resident.__table__),  # type: ignore[attr-defined]
            {
                "id": number,
                "line_user_id": f"U{number:032x}",
                "follow_state": person.follow_state,
                "district": person.district,
                "garbage_zone": person.garbage_zone,
                "language": person.language,
                "reminder_timing": person.reminder_timing,
                "birth_date": person.birth_date,
                "birth_year": person.birth_year,
                "created_at": T0,
                "updated_at": T0,
                "follow_count": 1,
            },
        )
        for interest in person.interests:
            connection.execute(
                sa.insert(ResidentInterest.__table__),
                {"resident_id": number, "interest": interest},  # type: ignore[attr-defined]
            )
        for name, value in person.attributes.items():
            connection.execute(
                sa.insert(ResidentAttribute.__table__),  # type: ignore[attr-defined]
                {
                    "resident_id": number,
                    "name": name,
                    "value": value,
                    "verified_at": T0,
                    "verified_by": "t",
                },
            )
        for category in person.opt_outs:
            connection.execute(
                sa.insert(ResidentOptOut.__table__),
                {"resident_id": number, "category": category},  # type: ignore[attr-defined]
            )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    population=st.lists(residents(), min_size=1, max_size=8),
    rule_list=st.lists(rules, min_size=1, max_size=4),
    on=send_dates,
    category=st.none() | st.sampled_from(RESIDENTS.categories[:3]),
    respect=st.booleans(),
)
def test_sql_audience_equals_python_reading(
    any_engine: Engine,
    population: list[PlainResident],
    rule_list: list[dict[str, Any]],
    on: dt.date,
    category: str | None,
    respect: bool,
) -> None:
    with any_engine.connect() as connection:
        transaction = connection.begin()
        try:
            _insert(connection, population)
            for raw in [None, *rule_list]:
                rule = None if raw is None else parse_rule(raw, CATALOG)
                where = audience_filter(rule, on=on, category=category, respect_opt_outs=respect)
                found = set(connection.scalars(sa.select(Resident.id).where(where)))
                expected = {
                    number
                    for number, person in enumerate(population, start=1)
                    if in_audience(raw, person, KINDS, on, category if respect else None)
                }
                assert found == expected, raw
        finally:
            transaction.rollback()
