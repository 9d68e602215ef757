"""The fields a segment rule may use: each city's whitelist, typed, built from settings.

Only fields in the `FieldCatalog` (built from `settings.residents`) exist; each has a kind
that decides which operators and values it takes (`OPS`), and a storage that says where the
compiler finds it (a Resident column, interest rows, attribute rows, or the age at `on`).
The parser (`segments.rule_parser`) refuses anything else; the console's rule editor and
the API show the same catalog (`catalog_json`), so what staff are offered is what is taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from broadcaster.settings import ResidentSettings


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
