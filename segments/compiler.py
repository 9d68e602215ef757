"""Rule tree -> SQLAlchemy expression over `Resident`, one shape per field storage.

Every condition compiles to an expression that is true or false, never NULL (an unset
value makes it false), so `NOT` is plain negation on every engine. Interests and verified
attributes are `EXISTS` subqueries on their indexed tables; age becomes a range on
`birth_date` (with a `birth_year` fallback) so the birth-date index works.
"""

from __future__ import annotations

import calendar
import datetime as dt

import sqlalchemy as sa
from sqlmodel import col

from broadcaster.db import table_of
from segments.fields import Kind, Op, Storage
from segments.residents import Resident, ResidentAttribute, ResidentInterest
from segments.rules import All, AnyOf, Condition, Not, Rule, Scalar


def compile_rule(rule: Rule, *, on: dt.date) -> sa.ColumnElement[bool]:
    """A boolean SQL expression over `Resident` (age computed at `on`)."""
    return compile_tree(rule, on=on)


def compile_tree(rule: Rule, *, on: dt.date) -> sa.ColumnElement[bool]:
    if isinstance(rule, All):
        return sa.and_(*(compile_tree(child, on=on) for child in rule.rules))
    if isinstance(rule, AnyOf):
        return sa.or_(*(compile_tree(child, on=on) for child in rule.rules))
    if isinstance(rule, Not):
        return sa.not_(compile_tree(rule.rule, on=on))
    storage = rule.field.storage
    if storage is Storage.column:
        return _column(rule)
    if storage is Storage.interests:
        return _interests(rule)
    if storage is Storage.attribute:
        return _attribute(rule)
    return _age(rule, on)


def _values(condition: Condition) -> tuple[Scalar, ...]:
    value = condition.value
    return value if isinstance(value, tuple) else (value,)


def _column(condition: Condition) -> sa.ColumnElement[bool]:
    column = table_of(Resident).c[condition.field.name]
    is_set = column.is_not(None)
    op, value = condition.op, condition.value
    if op is Op.is_set:
        return is_set if value else column.is_(None)
    compared = _compare(column, op, _values(condition))
    # Non-null columns need no guard; nullable ones must not let NULL leak into NOT.
    return compared if not column.nullable else sa.and_(is_set, compared)


def _compare(
    column: sa.ColumnElement[object], op: Op, values: tuple[Scalar, ...]
) -> sa.ColumnElement[bool]:
    if op is Op.eq:
        return column == values[0]
    if op is Op.ne:
        return column != values[0]
    if op is Op.in_:
        return column.in_(values)
    if op is Op.not_in:
        return column.not_in(values)
    if op is Op.gte:
        return column >= values[0]
    if op is Op.lte:
        return column <= values[0]
    if op is Op.between:
        return column.between(values[0], values[1])
    raise AssertionError(f"operator {op} reached the column compiler")


def _interests(condition: Condition) -> sa.ColumnElement[bool]:
    rows = sa.select(sa.literal(1)).where(col(ResidentInterest.resident_id) == col(Resident.id))
    if condition.op is Op.is_set:
        found = sa.exists(rows)
        return found if condition.value else ~found
    interests = _values(condition)
    if condition.op is Op.contains:
        return sa.exists(rows.where(col(ResidentInterest.interest) == interests[0]))
    return sa.exists(rows.where(col(ResidentInterest.interest).in_(interests)))


def _attribute(condition: Condition) -> sa.ColumnElement[bool]:
    spec = condition.field
    rows = sa.select(sa.literal(1)).where(
        col(ResidentAttribute.resident_id) == col(Resident.id),
        col(ResidentAttribute.name) == spec.name,
    )
    if condition.op is Op.is_set:
        found = sa.exists(rows)
        return found if condition.value else ~found
    value_column: sa.ColumnElement[object] = table_of(ResidentAttribute).c.value
    values: tuple[Scalar, ...] = _values(condition)
    if spec.kind is Kind.integer:
        # The CASE keeps the cast to this attribute's rows (validated integers on import):
        # PostgreSQL may evaluate WHERE terms in any order and would fail on other names.
        value_column = sa.case(
            (col(ResidentAttribute.name) == spec.name, sa.cast(value_column, sa.Integer)),
            else_=None,
        )
    elif spec.kind is Kind.boolean:
        values = tuple("true" if item else "false" for item in values)
    elif spec.kind is Kind.date:
        # Stored as ISO text, which sorts like the dates.
        values = tuple(
            item.isoformat() if isinstance(item, dt.date) else item for item in values
        )
    return sa.exists(rows.where(_compare(value_column, condition.op, values)))


def birthday_cutoff(on: dt.date, age: int) -> dt.date:
    """The latest birth date of someone at least `age` years old on `on`.

    On 29 February, people born on 28 February of a common year `age` years back count as
    the oldest birthday reached; those born on 1 March have not had theirs yet.
    """
    year = on.year - age
    if year < dt.MINYEAR:
        return dt.date.min
    day = min(on.day, calendar.monthrange(year, on.month)[1])
    return dt.date(year, on.month, day)


def _age_range(on: dt.date, low: int | None, high: int | None) -> sa.ColumnElement[bool]:
    """low <= age <= high at `on` (either bound optional)."""
    resident = table_of(Resident)
    birth_date, birth_year = resident.c.birth_date, resident.c.birth_year
    by_date: list[sa.ColumnElement[bool]] = [birth_date.is_not(None)]
    by_year: list[sa.ColumnElement[bool]] = [birth_date.is_(None), birth_year.is_not(None)]
    if low is not None:
        by_date.append(birth_date <= birthday_cutoff(on, low))
        by_year.append(birth_year <= on.year - low)
    if high is not None:
        by_date.append(birth_date > birthday_cutoff(on, high + 1))
        by_year.append(birth_year >= on.year - high)
    return sa.or_(sa.and_(*by_date), sa.and_(*by_year))


def _age_value(item: Scalar) -> int:
    # parse_rule only lets integers through for age (bool is excluded there too).
    if not isinstance(item, int):
        raise AssertionError(f"age value {item!r} reached the compiler unparsed")
    return item


def _age(condition: Condition, on: dt.date) -> sa.ColumnElement[bool]:
    op = condition.op
    resident = table_of(Resident)
    birth_date, birth_year = resident.c.birth_date, resident.c.birth_year
    known = sa.or_(birth_date.is_not(None), birth_year.is_not(None))
    if op is Op.is_set:
        return known if condition.value else sa.not_(known)
    ages = [_age_value(item) for item in _values(condition)]
    if op is Op.gte:
        return _age_range(on, ages[0], None)
    if op is Op.lte:
        return _age_range(on, None, ages[0])
    if op is Op.between:
        return _age_range(on, ages[0], ages[1])
    matched = sa.or_(*(_age_range(on, age, age) for age in sorted(set(ages))))
    if op in (Op.eq, Op.in_):
        return matched
    return sa.and_(known, sa.not_(matched))
