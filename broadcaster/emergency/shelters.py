"""Shelters (指定緊急避難場所): where residents go, which disasters each one serves, whether
it is open now.

Cities publish their shelters as open data in the national 「指定緊急避難場所」 CSV layout
(one ○ column per disaster kind). That layout has no district, so cities add a column; the
column name and its spellings are configured (`emergency.shelter_district_column`,
`emergency.shelter_district_values`). An import checks every row first and applies nothing
when any row is wrong, naming each bad line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, select

from broadcaster.db import JSONType, UTCDateTime
from segments.import_rows import RowError

# The 8 kinds of 指定緊急避難場所 (災害対策基本法施行令), in the national dataset's order.
DISASTER_KINDS: tuple[str, ...] = (
    "洪水",
    "土砂災害",
    "高潮",
    "地震",
    "津波",
    "大規模な火事",
    "内水氾濫",
    "火山現象",
)
# CSV header -> kind; the national dataset spells 土砂災害 out in full.
KIND_COLUMNS: Mapping[str, str] = {
    "洪水": "洪水",
    "崖崩れ、土石流及び地滑り": "土砂災害",
    "崖崩れ,土石流及び地滑り": "土砂災害",
    "土砂災害": "土砂災害",
    "高潮": "高潮",
    "地震": "地震",
    "津波": "津波",
    "大規模な火事": "大規模な火事",
    "内水氾濫": "内水氾濫",
    "火山現象": "火山現象",
}
NAME_COLUMNS = ("名称", "施設・場所名", "施設名")
CAPACITY_COLUMNS = ("収容人数", "想定収容人数")
YES = frozenset({"○", "◯", "〇", "1", "true", "TRUE", "True", "該当", "可"})
NO = frozenset({"", "×", "0", "-", "－", "false", "FALSE", "False", "非該当", "不可"})


class Shelter(SQLModel, table=True):
    __tablename__ = "shelter"
    __table_args__ = (sa.UniqueConstraint("name", "address", name="uq_shelter_name_address"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    address: str = Field(max_length=300)
    district: str = Field(max_length=64, index=True)
    latitude: float
    longitude: float
    capacity: int | None = None
    kinds: list[str] = Field(default_factory=list, sa_type=JSONType)
    is_open: bool = Field(default=False, index=True)
    opened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ShelterImportError(Exception):
    """The CSV was refused; `problems` lists every bad cell of every line, each with its
    catalog code (the API words them in Japanese, "4 行目: 列「緯度」の値…")."""

    def __init__(self, problems: Sequence[RowError]) -> None:
        self.problems = list(problems)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


@dataclass(frozen=True)
class ShelterRow:
    name: str
    address: str
    district: str
    latitude: float
    longitude: float
    capacity: int | None
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Shift_JIS (cp932), which many cities still publish."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp932")
        except UnicodeDecodeError:
            raise ShelterImportError(
                [
                    RowError(
                        1, None, "the file is neither UTF-8 nor Shift_JIS text", code="csv.not_text"
                    )
                ]
            ) from None


def parse_shelter_csv(
    text: str,
    *,
    districts: Sequence[str],
    district_column: str,
    district_values: Mapping[str, str],
) -> list[ShelterRow]:
    """Every row checked; raises ShelterImportError naming all bad lines, or returns rows."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    name_column = next((c for c in NAME_COLUMNS if c in header), None)
    missing = [c for c in ("住所", "緯度", "経度", district_column) if c not in header]
    if name_column is None:
        missing.insert(0, "名称")
    kind_columns = {c: KIND_COLUMNS[c] for c in header if c in KIND_COLUMNS}
    if missing:
        raise ShelterImportError(
            [
                RowError(
                    1,
                    None,
                    f"missing column(s) {', '.join(missing)}",
                    code="shelters.missing_columns",
                    params={"columns": "、".join(missing)},
                )
            ]
        )
    if not kind_columns:
        raise ShelterImportError(
            [
                RowError(
                    1,
                    None,
                    "no disaster-kind column (洪水, 地震, 津波, ...)",
                    code="shelters.no_kind_column",
                    params={"known": "、".join(KIND_COLUMNS)},
                )
            ]
        )
    capacity_column = next((c for c in CAPACITY_COLUMNS if c in header), None)
    known = set(districts)
    rows: list[ShelterRow] = []
    problems: list[RowError] = []
    seen: dict[tuple[str, str], int] = {}
    for record in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in record.values() if isinstance(v, str)):
            continue
        errors: list[RowError] = []

        def bad(column: str, message: str, *, code: str, **params: Any) -> None:
            errors.append(RowError(line, column, message, code, params))  # noqa: B023

        cell = {k: (v or "").strip() if isinstance(v, str) else "" for k, v in record.items() if k}
        assert name_column is not None
        name, address = cell.get(name_column, ""), cell.get("住所", "")
        if not name:
            bad(name_column, "is empty", code="csv.empty_cell", value="")
        if not address:
            bad("住所", "is empty", code="csv.empty_cell", value="")
        raw_district = cell.get(district_column, "")
        district = district_values.get(raw_district, raw_district)
        if district not in known:
            bad(
                district_column,
                f"{raw_district!r} is not a known district",
                code="shelters.unknown_district",
                value=raw_district,
                known="、".join(districts),
            )
        lat = _number(cell.get("緯度", ""), "緯度", -90, 90, bad)
        lon = _number(cell.get("経度", ""), "経度", -180, 180, bad)
        capacity: int | None = None
        if capacity_column and cell.get(capacity_column):
            raw = cell[capacity_column].replace(",", "")
            if raw.isdigit():
                capacity = int(raw)
            else:
                bad(
                    capacity_column,
                    f"{cell[capacity_column]!r} is not a whole number",
                    code="csv.not_whole_number",
                    value=cell[capacity_column],
                )
        kinds: list[str] = []
        for column, kind in kind_columns.items():
            value = cell.get(column, "")
            if value in YES:
                kinds.append(kind)
            elif value not in NO:
                bad(
                    column, f"{value!r}: expected ○ or empty", code="shelters.not_mark", value=value
                )
        key = (name, address)
        if name and key in seen:
            bad(
                name_column,
                f"same 名称 and 住所 as line {seen[key]}",
                code="shelters.duplicate",
                value=name,
                first=seen[key],
            )
        seen.setdefault(key, line)
        if errors:
            problems.extend(errors)
        elif lat is not None and lon is not None:
            kinds_in_order = tuple(k for k in DISASTER_KINDS if k in kinds)
            rows.append(ShelterRow(name, address, district, lat, lon, capacity, kinds_in_order))
    if problems:
        raise ShelterImportError(problems)
    if not rows:
        raise ShelterImportError(
            [RowError(1, None, "the file has no shelter rows", code="csv.no_rows")]
        )
    return rows


def _number(raw: str, column: str, low: float, high: float, bad: _Bad) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        bad(column, f"{raw!r} is not a number", code="csv.not_number", value=raw)
        return None
    if not low <= value <= high:
        bad(
            column,
            f"{raw} is out of range {low:g}..{high:g}",
            code="csv.out_of_range",
            value=raw,
            low=f"{low:g}",
            high=f"{high:g}",
        )
        return None
    return value


class _Bad(Protocol):
    """Notes one bad cell of the line being read."""

    def __call__(self, column: str, message: str, *, code: str, **params: Any) -> None: ...


def apply_rows(session: Session, rows: Sequence[ShelterRow], now: datetime) -> ImportResult:
    """Insert or update by (name, address) in the caller's transaction; open state is kept."""
    existing = {(s.name, s.address): s for s in session.exec(select(Shelter)).all()}
    created = updated = 0
    for row in rows:
        shelter = existing.get((row.name, row.address))
        if shelter is None:
            shelter = Shelter(
                name=row.name,
                address=row.address,
                created_at=now,
                district=row.district,
                latitude=row.latitude,
                longitude=row.longitude,
                updated_at=now,
            )
            created += 1
        else:
            updated += 1
        shelter.district = row.district
        shelter.latitude = row.latitude
        shelter.longitude = row.longitude
        shelter.capacity = row.capacity
        shelter.kinds = list(row.kinds)
        shelter.updated_at = now
        session.add(shelter)
    session.flush()
    return ImportResult(created=created, updated=updated)


def set_open(shelter: Shelter, is_open: bool, now: datetime) -> bool:
    """Open or close; returns whether anything changed (opening twice keeps opened_at)."""
    if shelter.is_open == is_open:
        return False
    shelter.is_open = is_open
    if is_open:
        shelter.opened_at = now
        shelter.closed_at = None
    else:
        shelter.closed_at = now
    shelter.updated_at = now
    return True


def open_shelters(
    session: Session, districts: Sequence[str], kind: str
) -> dict[str, list[Shelter]]:
    """Open shelters serving `kind` per district (each list ordered by name)."""
    found: dict[str, list[Shelter]] = {d: [] for d in districts}
    rows = session.exec(
        select(Shelter)
        .where(Shelter.is_open.is_(True), Shelter.district.in_(list(districts)))  # type: ignore[attr-defined]
        .order_by(Shelter.district, Shelter.name)  # type: ignore[arg-type]
    ).all()
    for shelter in rows:
        if kind in shelter.kinds:
            found[shelter.district].append(shelter)
    return found


def shelter_public(shelter: Shelter) -> dict[str, Any]:
    return {
        "id": shelter.id,
        "name": shelter.name,
        "address": shelter.address,
        "district": shelter.district,
        "latitude": shelter.latitude,
        "longitude": shelter.longitude,
        "capacity": shelter.capacity,
        "kinds": shelter.kinds,
        "is_open": shelter.is_open,
        "opened_at": shelter.opened_at.isoformat() if shelter.opened_at else None,
        "closed_at": shelter.closed_at.isoformat() if shelter.closed_at else None,
    }
