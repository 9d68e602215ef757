"""One row of the residents CSV (segments.importer) read into typed values, and what is
wrong with a line of a CSV file (`RowError`, also the shelters import's): collected per
cell rather than stopping at the first, so staff fix the whole file in one go.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from broadcaster.settings import ResidentSettings

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TRUE = {"1", "true", "yes"}
FALSE = {"0", "false", "no"}
RESIDENT_COLUMNS = ("birth_date", "birth_year", "district")


@dataclass(frozen=True)
class RowError:
    """One bad line of a CSV file: `message` in English (logs, the CLI), `code` and
    `params` for the catalog (the API and the console add `line`, `column`)."""

    line: int  # 1 is the header
    column: str | None
    message: str
    code: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str | None
    new: str


@dataclass
class ResidentUpdate:
    line: int
    resident_id: int
    user: str  # masked LINE user id
    fields: dict[str, Any] = field(default_factory=dict)  # Resident columns -> new value
    attributes: dict[str, str] = field(default_factory=dict)  # attribute name -> stored text
    changes: list[FieldChange] = field(default_factory=list)  # what differs from today


def _flag(raw: str) -> str | None:
    lowered = raw.strip().lower()
    return "true" if lowered in TRUE else "false" if lowered in FALSE else None


class RowChecker:
    """Reads one row's cells into typed values, collecting errors instead of stopping."""

    def __init__(self, residents: ResidentSettings, today: dt.date) -> None:
        self.residents = residents
        self.today = today
        self.kinds: dict[str, str] = {flag: "boolean" for flag in residents.household_flags}
        self.kinds.update(residents.extra_attributes)
        self.known = ("line_user_id", *RESIDENT_COLUMNS, *self.kinds)

    def header(self, columns: list[str]) -> list[RowError]:
        errors = []
        if "line_user_id" not in columns:
            errors.append(
                RowError(
                    1, None, "the column line_user_id is required", code="residents.no_user_column"
                )
            )
        seen: set[str] = set()
        for column in columns:
            if column in seen:
                errors.append(RowError(1, column, "column appears twice", code="csv.column_twice"))
            seen.add(column)
            if column not in self.known:
                errors.append(
                    RowError(
                        1,
                        column,
                        f"unknown column (known: {', '.join(self.known)})",
                        code="residents.unknown_column",
                        params={"known": "、".join(self.known)},
                    )
                )
        return errors

    def row(
        self, line: int, cells: dict[str, str], update: ResidentUpdate, errors: list[RowError]
    ) -> None:
        def bad(column: str, message: str, value: str, *, code: str, **params: Any) -> None:
            errors.append(RowError(line, column, message, code, {"value": value, **params}))

        date_text = cells.get("birth_date", "").strip()
        year_text = cells.get("birth_year", "").strip()
        birth_date: dt.date | None = None
        if date_text:
            try:
                if not ISO_DATE.match(date_text):
                    raise ValueError
                birth_date = dt.date.fromisoformat(date_text)
            except ValueError:
                bad(
                    "birth_date",
                    f"not a date YYYY-MM-DD: {date_text!r}",
                    date_text,
                    code="residents.not_a_date",
                )
            else:
                if not dt.date(1900, 1, 1) <= birth_date <= self.today:
                    bad(
                        "birth_date",
                        f"{date_text} is not between 1900-01-01 and today",
                        date_text,
                        code="residents.birth_date_range",
                    )
                    birth_date = None
                else:
                    update.fields["birth_date"] = birth_date
                    update.fields["birth_year"] = birth_date.year
        if year_text:
            if (
                not re.fullmatch(r"\d{4}", year_text)
                or not 1900 <= int(year_text) <= self.today.year
            ):
                bad(
                    "birth_year",
                    f"not a year between 1900 and {self.today.year}: {year_text!r}",
                    year_text,
                    code="residents.birth_year_range",
                    max=self.today.year,
                )
            elif birth_date is not None and birth_date.year != int(year_text):
                bad(
                    "birth_year",
                    f"{year_text} does not match birth_date {birth_date.isoformat()}",
                    year_text,
                    code="residents.birth_year_mismatch",
                    birth_date=birth_date.isoformat(),
                )
            else:
                update.fields["birth_year"] = int(year_text)
        district = cells.get("district", "").strip()
        if district:
            if district in self.residents.districts:
                update.fields["district"] = district
            else:
                bad(
                    "district",
                    f"unknown district {district!r} (known: {', '.join(self.residents.districts)})",
                    district,
                    code="residents.unknown_district",
                    known="、".join(self.residents.districts),
                )
        for name, kind in self.kinds.items():
            raw = cells.get(name, "").strip()
            if not raw:
                continue
            value = self._attribute(kind, raw)
            if value is None:
                bad(
                    name,
                    f"not a valid {kind}: {raw!r}"
                    + (" (use 1/0, true/false)" if kind == "boolean" else ""),
                    raw,
                    code="residents.bad_value",
                    # {kind!t}: 整数, 日付... in the reader's language.
                    kind=f"attribute_kind.{kind}",
                )
            else:
                update.attributes[name] = value

    @staticmethod
    def _attribute(kind: str, raw: str) -> str | None:
        """The stored text of an attribute value (None: invalid). Integers and dates are
        normalised so the rule compiler can compare them."""
        if kind == "boolean":
            return _flag(raw)
        if kind == "integer":
            return str(int(raw)) if re.fullmatch(r"-?\d{1,9}", raw) else None
        if kind == "date":
            try:
                return dt.date.fromisoformat(raw).isoformat() if ISO_DATE.match(raw) else None
            except ValueError:
                return None
        return raw if len(raw) <= 256 else None
