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
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from broadcaster.db import table_of
from broadcaster.settings import ResidentSettings
from segments.import_rows import (
    FieldChange,
    ResidentUpdate,
    RowChecker,
    RowError,
)
from segments.residents import Resident, ResidentAttribute, mask_user_id

USER_ID = re.compile(r"^U[0-9a-f]{32}$")
LOOKUP_CHUNK = 500
Progress = Callable[[int, int], None]


class ImportRejected(Exception):
    """The file has bad rows; nothing was applied. `errors` lists every one."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = sorted(errors, key=lambda error: error.line)
        super().__init__(
            f"{len(errors)} bad row(s); nothing applied: " + "; ".join(map(str, self.errors[:5]))
        )


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
    raise ImportRejected(
        [RowError(1, None, "the file is neither UTF-8 nor Shift_JIS text", code="csv.not_text")]
    )


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
    checker = RowChecker(residents, today)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [name.strip() for name in reader.fieldnames or []]
    if not columns:
        raise ImportRejected(
            [RowError(1, None, "the file is empty (expected a header row)", code="csv.empty")]
        )
    reader.fieldnames = columns
    errors = checker.header(columns)
    parsed: list[tuple[ResidentUpdate, str]] = []
    first_line: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if None in cells or any(value is None for value in cells.values()):
            errors.append(
                RowError(
                    line,
                    None,
                    f"expected {len(columns)} cells",
                    code="csv.cell_count",
                    params={"expected": len(columns)},
                )
            )
            continue
        user_id = (cells.get("line_user_id") or "").strip()
        if not USER_ID.match(user_id):
            errors.append(
                RowError(
                    line,
                    "line_user_id",
                    "not a LINE user id (U + 32 hex digits)",
                    code="residents.not_user_id",
                )
            )
            continue
        if user_id in first_line:
            errors.append(
                RowError(
                    line,
                    "line_user_id",
                    f"user {mask_user_id(user_id)} is already on line {first_line[user_id]}",
                    code="residents.user_twice",
                    params={"user": mask_user_id(user_id), "first": first_line[user_id]},
                )
            )
            continue
        first_line[user_id] = line
        update = ResidentUpdate(line=line, resident_id=0, user=mask_user_id(user_id))
        checker.row(line, cells, update, errors)
        parsed.append((update, user_id))
    if not parsed and not errors:
        errors.append(RowError(1, None, "the file has no rows", code="csv.no_rows"))
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
                RowError(
                    update.line,
                    "line_user_id",
                    f"no resident with LINE user {update.user}",
                    code="residents.no_resident",
                    params={"user": update.user},
                )
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
