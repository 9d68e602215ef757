"""Segment rules: JSON from staff, parsed against a typed whitelist into an immutable tree.

A rule is `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}` or a condition
`{"field": "district", "op": "in", "value": ["中央", "北"]}`. Only fields in the
`FieldCatalog` (built from `settings.residents`) exist; each has a type that decides which
operators and values it takes. Every refusal is a `RuleError` naming the exact place
(`all[1].value[0]`), because staff fix rules by reading the message, not the code.

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
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Union

from broadcaster.settings import ResidentSettings

MAX_DEPTH = 6
MAX_LIST = 1000
# Conditions in one rule. A city's largest real rule has ~20; past a few hundred, the SQL
# grows past what SQLite's parser and its expression depth take (1,000 made a 500).
MAX_CONDITIONS = 200
MAX_AGE = 150


class RuleError(ValueError):
    """A rule is refused. `path` locates the bad part (`all[1].value[0]`, "" for the root)."""

    def __init__(self, path: str, message: str, code: str = "", **params: Any) -> None:
        super().__init__(f"{path or 'rule'}: {message}")
        self.path = path
        self.message = message
        # The catalog's code for `message` (broadcaster.catalog), "" while it has none.
        self.code = code
        self.params = params


class Kind(StrEnum):
    enum = "enum"  # one of the configured choices
    set = "set"  # several of the configured choices (interests)
    integer = "integer"
    date = "date"
    boolean = "boolean"
    string = "string"


class Storage(StrEnum):
    column = "column"  # a Resident column of the same name
    interests = "interests"  # ResidentInterest rows
    attribute = "attribute"  # ResidentAttribute rows named like the field
    age = "age"  # computed from Resident.birth_date / birth_year at `on`


class Op(StrEnum):
    eq = "eq"
    ne = "ne"
    in_ = "in"
    not_in = "not_in"
    contains = "contains"
    contains_any = "contains_any"
    gte = "gte"
    lte = "lte"
    between = "between"
    is_set = "is_set"


OPS: dict[Kind, frozenset[Op]] = {
    Kind.enum: frozenset({Op.eq, Op.ne, Op.in_, Op.not_in, Op.is_set}),
    Kind.string: frozenset({Op.eq, Op.ne, Op.in_, Op.not_in, Op.is_set}),
    Kind.set: frozenset({Op.contains, Op.contains_any, Op.is_set}),
    Kind.integer: frozenset(
        {Op.eq, Op.ne, Op.in_, Op.not_in, Op.gte, Op.lte, Op.between, Op.is_set}
    ),
    Kind.date: frozenset({Op.eq, Op.ne, Op.gte, Op.lte, Op.between, Op.is_set}),
    Kind.boolean: frozenset({Op.eq, Op.is_set}),
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    storage: Storage
    choices: tuple[str, ...] = ()
    description: str = ""

    @property
    def ops(self) -> list[str]:
        return sorted(op.value for op in OPS[self.kind])


@dataclass(frozen=True)
class FieldCatalog:
    """The fields a rule may use, by name. Built from settings so each city has its own."""

    fields: Mapping[str, FieldSpec]

    @classmethod
    def from_settings(cls, residents: ResidentSettings) -> FieldCatalog:
        specs = [
            FieldSpec("district", Kind.enum, Storage.column, tuple(residents.districts), "地区"),
            FieldSpec(
                "garbage_zone", Kind.enum, Storage.column, tuple(residents.zones), "収集地区"
            ),
            FieldSpec(
                "reminder_timing",
                Kind.enum,
                Storage.column,
                ("eve", "morning", "off"),
                "ごみ出し通知",
            ),
            FieldSpec("language", Kind.enum, Storage.column, tuple(residents.languages), "言語"),
            FieldSpec("interests", Kind.set, Storage.interests, tuple(residents.interests), "関心"),
            FieldSpec("age", Kind.integer, Storage.age, (), "年齢 (at the send date)"),
            FieldSpec("birth_year", Kind.integer, Storage.column, (), "生年 (verified)"),
        ]
        specs += [
            FieldSpec(flag, Kind.boolean, Storage.attribute, (), "世帯区分 (verified)")
            for flag in residents.household_flags
        ]
        specs += [
            FieldSpec(name, Kind(kind), Storage.attribute, (), "verified attribute")
            for name, kind in residents.extra_attributes.items()
        ]
        fields: dict[str, FieldSpec] = {}
        for spec in specs:
            if spec.name in fields:
                raise ValueError(f"residents: the name {spec.name!r} is used twice")
            fields[spec.name] = spec
        return cls(fields)

    def get(self, name: str) -> FieldSpec | None:
        return self.fields.get(name)


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


def parse_rule(data: object, catalog: FieldCatalog) -> Rule:
    """The typed tree for `data` (decoded JSON). Raises RuleError naming the bad part."""
    return _parse(data, catalog, "", 1, [0])


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _parse(
    data: object, catalog: FieldCatalog, path: str, depth: int, conditions: list[int]
) -> Rule:
    if depth > MAX_DEPTH:
        raise RuleError(
            path, f"nested too deeply (at most {MAX_DEPTH} levels)", "rule.too_deep",
            max=MAX_DEPTH,
        )
    if not isinstance(data, dict):
        raise RuleError(
            path, f"expected an object, got {_json_type(data)}", "rule.expected_object",
            got=_type_code(data),
        )
    groups = [key for key in ("all", "any", "not") if key in data]
    if groups:
        key = groups[0]
        extra = sorted(set(data) - {key})
        if extra:
            raise RuleError(
                path,
                f"'{key}' must be alone in its object (also found: {', '.join(extra)})",
                "rule.group_alone",
                key=key,
                extra=", ".join(extra),
            )
        inner = _join(path, key)
        if key == "not":
            return Not(_parse(data[key], catalog, inner, depth + 1, conditions))
        items = data[key]
        if not isinstance(items, list):
            raise RuleError(
                inner, f"expected a list of rules, got {_json_type(items)}", "rule.expected_rules",
                got=_type_code(items),
            )
        if not items:
            raise RuleError(inner, "must hold at least one rule", "rule.empty_group")
        if len(items) > MAX_CONDITIONS:
            raise RuleError(
                inner, f"at most {MAX_CONDITIONS} conditions in a rule", "rule.too_many",
                max=MAX_CONDITIONS,
            )
        children = tuple(
            _parse(item, catalog, f"{inner}[{index}]", depth + 1, conditions)
            for index, item in enumerate(items)
        )
        return All(children) if key == "all" else AnyOf(children)
    if "field" not in data:
        raise RuleError(
            path,
            "expected 'all', 'any', 'not' or a condition with 'field', 'op', 'value'",
            "rule.expected_rule",
        )
    conditions[0] += 1
    if conditions[0] > MAX_CONDITIONS:
        raise RuleError(
            path, f"at most {MAX_CONDITIONS} conditions in a rule", "rule.too_many",
            max=MAX_CONDITIONS,
        )
    return _parse_condition(data, catalog, path)


def _parse_condition(data: dict[str, Any], catalog: FieldCatalog, path: str) -> Condition:
    extra = sorted(set(data) - {"field", "op", "value"})
    if extra:
        raise RuleError(
            _join(path, extra[0]),
            "unknown key (a condition has field, op, value)",
            "rule.unknown_key",
        )
    name = data["field"]
    spec = catalog.get(name) if isinstance(name, str) else None
    if spec is None:
        known = ", ".join(catalog.fields)
        raise RuleError(
            _join(path, "field"),
            f"unknown field {name!r} (known: {known})",
            "rule.unknown_field",
            name=name,
            known=known,
        )
    raw_op = data.get("op")
    if raw_op not in {op.value for op in OPS[spec.kind]}:
        raise RuleError(
            _join(path, "op"),
            f"operator {raw_op!r} does not apply to {spec.name} ({spec.kind.value}); "
            f"use one of: {', '.join(spec.ops)}",
            "rule.operator",
            op=raw_op,
            field=spec.name,
            kind=spec.kind.value,
            ops=", ".join(spec.ops),
        )
    op = Op(raw_op)
    vpath = _join(path, "value")
    if "value" not in data:
        raise RuleError(vpath, "missing", "rule.missing")
    return Condition(spec, op, _parse_value(spec, op, data["value"], vpath))


def _parse_value(spec: FieldSpec, op: Op, raw: object, path: str) -> Value:
    if op is Op.is_set:
        if not isinstance(raw, bool):
            raise RuleError(
                path, f"expected true or false, got {_json_type(raw)}", "rule.expected_bool",
                got=_type_code(raw),
            )
        return raw
    if op in (Op.in_, Op.not_in, Op.contains_any, Op.between):
        if not isinstance(raw, list):
            raise RuleError(
                path, f"expected a list, got {_json_type(raw)}", "rule.expected_list",
                got=_type_code(raw),
            )
        if op is Op.between:
            if len(raw) != 2:
                raise RuleError(path, "expected [low, high]", "rule.expected_range")
        elif not raw:
            raise RuleError(path, "must hold at least one value", "rule.empty_list")
        elif len(raw) > MAX_LIST:
            raise RuleError(
                path, f"at most {MAX_LIST} values", "rule.too_many_values", max=MAX_LIST
            )
        items = tuple(_parse_scalar(spec, item, f"{path}[{i}]") for i, item in enumerate(raw))
        if op is Op.between and items[0] > items[1]:  # type: ignore[operator]
            raise RuleError(
                path, f"low {raw[0]!r} is above high {raw[1]!r}", "rule.low_above_high",
                low=raw[0], high=raw[1],
            )
        return items
    return _parse_scalar(spec, raw, path)


def _parse_scalar(spec: FieldSpec, raw: object, path: str) -> Scalar:
    kind = spec.kind
    if kind in (Kind.enum, Kind.set):
        if not isinstance(raw, str):
            raise RuleError(
                path, f"expected a string, got {_json_type(raw)}", "rule.expected_string",
                got=_type_code(raw),
            )
        if raw not in spec.choices:
            label = "interest" if kind is Kind.set else spec.name.replace("_", " ")
            raise RuleError(
                path,
                f"unknown {label} {raw!r} (known: {', '.join(spec.choices)})",
                "rule.unknown_choice",
                label=label,
                value=raw,
                known=", ".join(spec.choices),
            )
        return raw
    if kind is Kind.string:
        if not isinstance(raw, str):
            raise RuleError(
                path, f"expected a string, got {_json_type(raw)}", "rule.expected_string",
                got=_type_code(raw),
            )
        return raw
    if kind is Kind.boolean:
        if not isinstance(raw, bool):
            raise RuleError(
                path, f"expected true or false, got {_json_type(raw)}", "rule.expected_bool",
                got=_type_code(raw),
            )
        return raw
    if kind is Kind.integer:
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise RuleError(
                path, f"expected an integer, got {_json_type(raw)}", "rule.expected_integer",
                got=_type_code(raw),
            )
        if spec.storage is Storage.age and not 0 <= raw <= MAX_AGE:
            raise RuleError(
                path, f"age must be between 0 and {MAX_AGE}", "rule.age_range", max=MAX_AGE
            )
        if spec.storage is not Storage.age and abs(raw) > 2**31 - 1:
            raise RuleError(path, "integer out of range", "rule.integer_range")
        return raw
    # Kind.date
    if not isinstance(raw, str):
        raise RuleError(
                path, f"expected a date 'YYYY-MM-DD', got {_json_type(raw)}", "rule.expected_date",
                got=_type_code(raw),
            )
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise RuleError(
            path, f"not a date 'YYYY-MM-DD': {raw!r}", "rule.not_a_date", value=raw
        ) from None


# A JSON value's type, as the catalog code its `got` parameter is worded by ({got!t}: 数値,
# a number) and in English for the message logs and the CLI show.
_TYPE_NAMES = {
    "type.null": "null",
    "type.boolean": "a boolean",
    "type.number": "a number",
    "type.string": "a string",
    "type.list": "a list",
    "type.object": "an object",
}
# bool before int: True is an int to Python, a boolean to JSON.
_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "type.boolean"), ((int, float), "type.number"), (str, "type.string"),
    (list, "type.list"), (dict, "type.object"),
)


def _type_code(value: object) -> str:
    if value is None:
        return "type.null"
    for kind, code in _TYPES:
        if isinstance(value, kind):
            return code
    return type(value).__name__


def _json_type(value: object) -> str:
    code = _type_code(value)
    return _TYPE_NAMES.get(code, code)


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


def catalog_json(catalog: FieldCatalog) -> list[dict[str, Any]]:
    """The catalog as data, for the API and the console's rule editor."""
    return [
        {
            "field": spec.name,
            "type": spec.kind.value,
            "ops": spec.ops,
            "choices": list(spec.choices),
            "description": spec.description,
        }
        for spec in catalog.fields.values()
    ]
