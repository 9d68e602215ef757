"""Staff import of verified resident attributes from a CSV file keyed by LINE user id.

The city checks identities itself (窓口 or マイナンバーカード) and hands us a list; this
module turns it into verified values. The whole file is checked first and nothing is
written if any row is wrong, so a half-applied list never leaves residents half-verified.

CSV format (UTF-8, with or without BOM; Shift_JIS/CP932 from Excel is accepted too):

    line_user_id,birth_date,birth_year,district,子育て世帯,高齢者のみ世帯,ひとり親世帯
    U4af4980629...,1950-04-02,,中央,0,1,0

- `line_user_id` (required): the resident's LINE user id (U + 32 hex digits), as the city
  received it when the resident linked their account.
- `birth_date` (YYYY-MM-DD) and/or `birth_year` (YYYY): when both are given they must
  agree; a birth date also sets the birth year.
- `district` (optional): a correction to one of the configured districts.
- one column per configured household flag, named exactly like it, with 1/0, true/false,
  yes/no (case-insensitive): the verified value of that flag.
- one column per configured extra attribute, named exactly like it: integer, YYYY-MM-DD,
  1/0/true/false, or text (≤ 256 characters), as configured.
- An empty cell leaves that value unchanged. Only `line_user_id` is required; any other
  column may be left out. Columns not listed here are refused.

Every row of the file gets the same verified_at/verified_by on the resident and on each
attribute it sets.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from broadcaster.db import table_of
from broadcaster.settings import ResidentSettings
from segments.residents import Resident, ResidentAttribute, mask_user_id

USER_ID = re.compile(r"^U[0-9a-f]{32}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TRUE = {"1", "true", "yes"}
FALSE = {"0", "false", "no"}
RESIDENT_COLUMNS = ("birth_date", "birth_year", "district")
LOOKUP_CHUNK = 500
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RowError:
    line: int  # 1 is the header
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class ImportRejected(Exception):
    """The file has bad rows; nothing was applied. `errors` lists every one."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = sorted(errors, key=lambda error: error.line)
        super().__init__(
            f"{len(errors)} bad row(s); nothing applied: " + "; ".join(map(str, self.errors[:5]))
        )


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


@dataclass(frozen=True)
class ImportPlan:
    rows: list[ResidentUpdate]

    @property
    def changed(self) -> int:
        return sum(1 for row in self.rows if row.changes)

    def as_json(self) -> dict[str, Any]:
        """For the API and the dry run: masked ids and old -> new per field."""
        return {
            "rows": len(self.rows),
            "residents_changed": self.changed,
            "changes": [
                {
                    "line": row.line,
                    "user": row.user,
                    "changes": [
                        {"field": c.field, "old": c.old, "new": c.new} for c in row.changes
                    ],
                }
                for row in self.rows
                if row.changes
            ],
        }


def decode(data: bytes) -> str:
    """CSV text from bytes: UTF-8 (BOM or not), else CP932 as Excel on Windows writes it."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportRejected([RowError(1, None, "the file is neither UTF-8 nor Shift_JIS text")])


def _flag(raw: str) -> str | None:
    lowered = raw.strip().lower()
    return "true" if lowered in TRUE else "false" if lowered in FALSE else None


class _Checker:
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
            errors.append(RowError(1, None, "the column line_user_id is required"))
        seen: set[str] = set()
        for column in columns:
            if column in seen:
                errors.append(RowError(1, column, "column appears twice"))
            seen.add(column)
            if column not in self.known:
                errors.append(
                    RowError(1, column, f"unknown column (known: {', '.join(self.known)})")
                )
        return errors

    def row(
        self, line: int, cells: dict[str, str], update: ResidentUpdate, errors: list[RowError]
    ) -> None:
        def bad(column: str, message: str) -> None:
            errors.append(RowError(line, column, message))

        date_text = cells.get("birth_date", "").strip()
        year_text = cells.get("birth_year", "").strip()
        birth_date: dt.date | None = None
        if date_text:
            try:
                if not ISO_DATE.match(date_text):
                    raise ValueError
                birth_date = dt.date.fromisoformat(date_text)
            except ValueError:
                bad("birth_date", f"not a date YYYY-MM-DD: {date_text!r}")
            else:
                if not dt.date(1900, 1, 1) <= birth_date <= self.today:
                    bad("birth_date", f"{date_text} is not between 1900-01-01 and today")
                    birth_date = None
                else:
                    update.fields["birth_date"] = birth_date
                    update.fields["birth_year"] = birth_date.year
        if year_text:
            if (
                not re.fullmatch(r"\d{4}", year_text)
                or not 1900 <= int(year_text) <= self.today.year
            ):
                bad("birth_year", f"not a year between 1900 and {self.today.year}: {year_text!r}")
            elif birth_date is not None and birth_date.year != int(year_text):
                bad("birth_year", f"{year_text} does not match birth_date {birth_date.isoformat()}")
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


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def plan_import(
    session: Session,
    text: str,
    residents: ResidentSettings,
    *,
    today: dt.date,
    progress: Progress | None = None,
) -> ImportPlan:
    """Check the whole CSV and work out each resident's changes; writes nothing.

    Raises ImportRejected listing every bad row (line numbers as a spreadsheet shows them).
    """
    checker = _Checker(residents, today)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [name.strip() for name in reader.fieldnames or []]
    if not columns:
        raise ImportRejected([RowError(1, None, "the file is empty (expected a header row)")])
    reader.fieldnames = columns
    errors = checker.header(columns)
    parsed: list[tuple[ResidentUpdate, str]] = []
    first_line: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if None in cells or any(value is None for value in cells.values()):
            errors.append(RowError(line, None, f"expected {len(columns)} cells"))
            continue
        user_id = (cells.get("line_user_id") or "").strip()
        if not USER_ID.match(user_id):
            errors.append(RowError(line, "line_user_id", "not a LINE user id (U + 32 hex digits)"))
            continue
        if user_id in first_line:
            errors.append(
                RowError(
                    line,
                    "line_user_id",
                    f"user {mask_user_id(user_id)} is already on line {first_line[user_id]}",
                )
            )
            continue
        first_line[user_id] = line
        update = ResidentUpdate(line=line, resident_id=0, user=mask_user_id(user_id))
        checker.row(line, cells, update, errors)
        parsed.append((update, user_id))
    if not parsed and not errors:
        errors.append(RowError(1, None, "the file has no rows"))
    total = len(parsed)
    residents_by_user: dict[str, Resident] = {}
    done = 0
    for chunk in _chunks([user for _, user in parsed], LOOKUP_CHUNK):
        found = session.execute(
            sa.select(Resident).where(col(Resident.line_user_id).in_(chunk))
        ).scalars()
        residents_by_user.update({resident.line_user_id: resident for resident in found})
        done += len(chunk)
        if progress:
            progress(done, total)
    attributes = _current_attributes(
        session, [r.id for r in residents_by_user.values() if r.id is not None]
    )
    for update, user_id in parsed:
        resident = residents_by_user.get(user_id)
        if resident is None or resident.id is None:
            errors.append(
                RowError(update.line, "line_user_id", f"no resident with LINE user {update.user}")
            )
            continue
        update.resident_id = resident.id
        update.changes = _diff(resident, attributes.get(resident.id, {}), update)
    if errors:
        raise ImportRejected(errors)
    return ImportPlan([update for update, _ in parsed])


def _current_attributes(session: Session, resident_ids: list[int]) -> dict[int, dict[str, str]]:
    current: dict[int, dict[str, str]] = {}
    for start in range(0, len(resident_ids), LOOKUP_CHUNK):
        chunk = resident_ids[start : start + LOOKUP_CHUNK]
        rows = session.execute(
            sa.select(
                col(ResidentAttribute.resident_id),
                col(ResidentAttribute.name),
                col(ResidentAttribute.value),
            ).where(col(ResidentAttribute.resident_id).in_(chunk))
        )
        for resident_id, name, value in rows:
            current.setdefault(resident_id, {})[name] = value
    return current


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _diff(
    resident: Resident, attributes: dict[str, str], update: ResidentUpdate
) -> list[FieldChange]:
    changes = []
    for name, new in update.fields.items():
        old = getattr(resident, name)
        if old != new:
            changes.append(FieldChange(name, _text(old), _text(new) or ""))
    for name, new_text in update.attributes.items():
        if attributes.get(name) != new_text:
            changes.append(FieldChange(name, attributes.get(name), new_text))
    return changes


def apply_import(
    session: Session,
    plan: ImportPlan,
    *,
    verified_by: str,
    now: dt.datetime,
    progress: Progress | None = None,
) -> int:
    """Write a checked plan in the caller's transaction (the caller commits once).

    Every row is marked verified at `now` by `verified_by`, changed or not: staff checked
    it. Returns the number of residents whose values changed.
    """
    total = len(plan.rows)
    attributes = _current_attributes(session, [row.resident_id for row in plan.rows])
    resident_table = table_of(Resident)
    attribute_table = table_of(ResidentAttribute)
    for done, row in enumerate(plan.rows, start=1):
        session.execute(
            sa.update(resident_table)
            .where(resident_table.c.id == row.resident_id)
            .values(**row.fields, verified_at=now, verified_by=verified_by, updated_at=now)
        )
        existing = attributes.get(row.resident_id, {})
        for name, value in row.attributes.items():
            stamp = {"value": value, "verified_at": now, "verified_by": verified_by}
            if name in existing:
                session.execute(
                    sa.update(attribute_table)
                    .where(
                        attribute_table.c.resident_id == row.resident_id,
                        attribute_table.c.name == name,
                    )
                    .values(**stamp)
                )
            else:
                session.execute(
                    sa.insert(attribute_table).values(
                        resident_id=row.resident_id, name=name, **stamp
                    )
                )
        if progress and (done % 200 == 0 or done == total):
            progress(done, total)
    session.flush()
    return plan.changed
