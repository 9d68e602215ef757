"""Segment rules: the immutable tree staff's JSON is parsed into, and what it means.

A rule is `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}` or a condition
`{"field": "district", "op": "in", "value": ["中央", "北"]}` on a field of the
`segments.fields.FieldCatalog`. `segments.rule_parser.parse_rule` builds this tree from the
JSON (refusing with a path-named `segments.rule_errors.RuleError`); `rule_to_json` gives
back the canonical JSON a saved segment version stores.

Semantics, the same on every engine (the property test holds SQL to them):
- A condition on a value the resident has not given (no district, no verified birth date,
  no attribute row) is false, whatever the operator (`ne` and `not_in` included); only
  `is_set: false` matches it. `not` is plain negation, so `{"not": {district eq 中央}}` does
  include residents without a district.
- `age` is the age at the send date `on`. With a birth date, a birthday counts from its day;
  someone born on 29 February becomes a year older on 1 March in other years (as Japanese law
  counts it). With only a birth year, the resident counts as having had this year's
  birthday: age = on.year - birth_year (the age reached during the year, as city lists
  keyed by 年 use it).
- Household flags and extra attributes are verified values: `eq true` / `eq false` match
  what staff verified; a resident never verified matches neither (use `is_set`, or `not`).

`segments.compiler.compile_rule` turns the tree into a SQLAlchemy expression,
never into a string.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Union

from segments.fields import FieldSpec, Op

Scalar = str | int | bool | dt.date
Value = Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class Condition:
    field: FieldSpec
    op: Op
    value: Value


@dataclass(frozen=True)
class All:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    rule: Rule


Rule = Union[All, AnyOf, Not, Condition]  # noqa: UP007 (a runtime alias of forward refs)


def rule_to_json(rule: Rule) -> dict[str, Any]:
    """The canonical JSON of a parsed rule (what a saved segment version stores)."""
    if isinstance(rule, All):
        return {"all": [rule_to_json(child) for child in rule.rules]}
    if isinstance(rule, AnyOf):
        return {"any": [rule_to_json(child) for child in rule.rules]}
    if isinstance(rule, Not):
        return {"not": rule_to_json(rule.rule)}
    return {"field": rule.field.name, "op": rule.op.value, "value": _value_json(rule.value)}


def _value_json(value: Value) -> Any:
    if isinstance(value, tuple):
        return [_value_json(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def fields_used(rule: Rule) -> set[str]:
    """Names of the fields a rule reads (for previews and audit)."""
    if isinstance(rule, All | AnyOf):
        return set().union(*(fields_used(child) for child in rule.rules))
    if isinstance(rule, Not):
        return fields_used(rule.rule)
    return {rule.field.name}

