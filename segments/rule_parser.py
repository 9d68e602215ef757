"""Parsing a segment rule: JSON from staff, checked against the field catalog, into the tree.

A rule is `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}` or a condition
`{"field": "district", "op": "in", "value": ["中央", "北"]}`. Only fields in the
`FieldCatalog` exist, and each field's kind decides which operators and values it takes.
Every refusal is a `RuleError` naming the exact place (`all[1].value[0]`). The caps below
are checked while parsing, so no rule the SQL cannot take is ever saved.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from segments.fields import OPS, FieldCatalog, FieldSpec, Kind, Op, Storage
from segments.rule_errors import RuleError, json_type, type_code
from segments.rules import All, AnyOf, Condition, Not, Rule, Scalar, Value

MAX_DEPTH = 6
MAX_LIST = 1000
# Conditions in one rule. A city's largest real rule has ~20; past a few hundred, the SQL
# grows past what SQLite's parser and its expression depth take (1,000 made a 500).
MAX_CONDITIONS = 200
MAX_AGE = 150


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
            path, f"expected an object, got {json_type(data)}", "rule.expected_object",
            got=type_code(data),
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
                inner, f"expected a list of rules, got {json_type(items)}", "rule.expected_rules",
                got=type_code(items),
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
                path, f"expected true or false, got {json_type(raw)}", "rule.expected_bool",
                got=type_code(raw),
            )
        return raw
    if op in (Op.in_, Op.not_in, Op.contains_any, Op.between):
        if not isinstance(raw, list):
            raise RuleError(
                path, f"expected a list, got {json_type(raw)}", "rule.expected_list",
                got=type_code(raw),
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
                path, f"expected a string, got {json_type(raw)}", "rule.expected_string",
                got=type_code(raw),
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
                path, f"expected a string, got {json_type(raw)}", "rule.expected_string",
                got=type_code(raw),
            )
        return raw
    if kind is Kind.boolean:
        if not isinstance(raw, bool):
            raise RuleError(
                path, f"expected true or false, got {json_type(raw)}", "rule.expected_bool",
                got=type_code(raw),
            )
        return raw
    if kind is Kind.integer:
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise RuleError(
                path, f"expected an integer, got {json_type(raw)}", "rule.expected_integer",
                got=type_code(raw),
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
                path, f"expected a date 'YYYY-MM-DD', got {json_type(raw)}", "rule.expected_date",
                got=type_code(raw),
            )
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise RuleError(
            path, f"not a date 'YYYY-MM-DD': {raw!r}", "rule.not_a_date", value=raw
        ) from None
