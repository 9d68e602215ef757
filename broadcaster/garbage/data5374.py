"""Read a 5374 data set (Code for Kanazawa's format, forked by 300+ cities) into collection
days. Pure.

`area_days.csv`: ``地名,センター,<kind>,<kind>…``, one row per area. A cell lists when that
kind is collected, tokens separated by spaces:

- ``月 木``: every Monday and Thursday; ``水2``: the 2nd Wednesday of each month;
- ``火2 金4:4 6 8 10 12 2``: those days only in the months after the colon;
- ``20250331 20250415``: explicit dates (irregular collections);
- ``*1``: remark 1 of `remarks.csv` (``ID,注意事項``), a note on each of those days.

`center.csv` (``名称,休止開始日,休止終了日``): an area whose センター is listed has no
collection in that window (the year-end break). An area becomes our zone by its name (a zone,
or a garbage.zone_aliases key) or by a column named by `zone_column`. Column headers are read
like calendar summaries (kinds.py), so 「びん・缶」 is both kinds and an unknown header is kept
as written and reported. A cell that cannot be read is left out and reported (area/kind and
why), as a bad iCal series is; the rest imports.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from broadcaster.garbage.days import (
    CalendarError,
    DayCollector,
    ParsedCalendar,
    Skipped,
    zone_resolver,
)
from broadcaster.garbage.kinds import KindTable

AREA_DAYS = "area_days.csv"
CENTER = "center.csv"
REMARKS = "remarks.csv"
WEEKDAYS = "月火水木金土日"  # date.weekday() order
_TOKEN = re.compile(
    r"^(?:(?P<weekday>[日月火水木金土])(?P<nth>[1-5])?|(?P<date>\d{8})|\*(?P<remark>\d+))$"
)
_DATE_FORMATS = ("%Y/%m/%d", "%Y-%m-%d", "%Y%m%d", "%Y.%m.%d")


def read_csv(data: bytes, name: str, *, nfkc: bool = True) -> list[list[str]]:
    """Rows of a 5374 CSV (UTF-8 with or without BOM, or Shift_JIS as some cities save it),
    cells stripped (and NFKC-normalized unless `nfkc` is false: text shown to residents
    keeps its full-width brackets), blank rows dropped."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise CalendarError(
            f"{name}: not UTF-8 or Shift_JIS text", code="calendar.csv_encoding", file=name
        )
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise CalendarError(
            f"{name}: not a CSV file ({exc})", code="calendar.not_csv", file=name, problem=str(exc)
        ) from None
    cleaned = [
        [(unicodedata.normalize("NFKC", cell) if nfkc else cell).strip() for cell in row]
        for row in rows
    ]
    return [row for row in cleaned if any(row)]


def cell_dates(
    cell: str, start: date, end: date, remarks: Mapping[str, str]
) -> tuple[list[date], list[str]]:
    """Pure: the dates in [start, end) a cell names, and its notes. Raises CalendarError
    (a ValueError) naming the token it cannot read."""
    cell = " ".join(cell.split())
    if not cell or cell in ("-", "なし"):
        return [], []
    exprs, _, month_text = cell.partition(":")
    months: set[int] | None = None
    if month_text.strip():
        try:
            months = {int(month) for month in month_text.split()}
        except ValueError:
            raise CalendarError(
                f"months after ':' must be numbers: {month_text!r}",
                code="calendar.cell.months",
                value=month_text,
            ) from None
        if not months <= set(range(1, 13)):
            raise CalendarError(
                f"months after ':' must be 1-12: {month_text!r}",
                code="calendar.cell.months",
                value=month_text,
            )
    weekly: set[int] = set()
    nth: set[tuple[int, int]] = set()
    explicit: set[date] = set()
    notes: list[str] = []
    for token in exprs.split():
        match = _TOKEN.match(token)
        if match is None:
            raise CalendarError(
                f"cannot read {token!r} (expected 月, 水2, 20250331 or *1)",
                code="calendar.cell.token",
                value=token,
            )
        if match["remark"]:
            note = remarks.get(match["remark"])
            if note is None:
                raise CalendarError(
                    f"remark *{match['remark']} is not in {REMARKS}",
                    code="calendar.cell.remark",
                    remark=match["remark"],
                    file=REMARKS,
                )
            notes.append(note)
        elif match["date"]:
            try:
                explicit.add(datetime.strptime(match["date"], "%Y%m%d").date())
            except ValueError:
                raise CalendarError(
                    f"{match['date']} is not a date",
                    code="calendar.cell.date",
                    value=match["date"],
                ) from None
        else:
            weekday = WEEKDAYS.index(match["weekday"])
            if match["nth"]:
                nth.add((weekday, int(match["nth"])))
            else:
                weekly.add(weekday)
    found = [day for day in explicit if start <= day < end]
    day = start
    while day < end:
        if months is None or day.month in months:
            weekday = day.weekday()
            if weekday in weekly or (weekday, (day.day - 1) // 7 + 1) in nth:
                found.append(day)
        day += timedelta(days=1)
    return sorted(set(found)), notes


def read_5374(
    files: Mapping[str, bytes],
    *,
    start: date,
    end: date,
    table: KindTable,
    zones: Sequence[str],
    zone_aliases: Mapping[str, str],
    zone_column: str | None = None,
    strict: bool = False,
) -> ParsedCalendar:
    """Collection days per zone from a 5374 data set (`files`: file name -> bytes; only
    area_days.csv is required). Raises CalendarError, having read nothing into the
    database, for a missing or unreadable file, an area that is no zone, two areas on one
    zone, a bad center.csv date, no collection day at all, or (`strict`) any bad cell."""
    if AREA_DAYS not in files:
        got = ", ".join(files) or "none"
        raise CalendarError(
            f"a 5374 data set needs {AREA_DAYS} (got: {got})",
            code="calendar.no_area_days",
            file=AREA_DAYS,
            got=got,
        )
    # Headers stay as written (they are reported, and shown when unmapped); cells, names and
    # centres are NFKC'd where they are read.
    rows = read_csv(files[AREA_DAYS], AREA_DAYS, nfkc=False)
    if len(rows) < 2 or len(rows[0]) < 3:
        raise CalendarError(
            f"{AREA_DAYS}: expected a header 地名,センター,<kind>… and one row per area",
            code="calendar.area_days_header",
            file=AREA_DAYS,
        )
    header = rows[0]
    zone_index = _zone_index(header, zone_column)
    kind_columns = [i for i in range(2, len(header)) if i != zone_index and header[i]]
    remarks = _remarks(files.get(REMARKS))
    suspensions = _suspensions(files.get(CENTER))
    resolve = zone_resolver(zones, zone_aliases)
    collector = DayCollector(table, resolve)
    skipped: list[Skipped] = []
    warnings: list[str] = []
    owners: dict[str, str] = {}
    unknown: list[str] = []
    for row in rows[1:]:
        row = row + [""] * (len(header) - len(row))
        area, center = row[0], unicodedata.normalize("NFKC", row[1])
        named = row[zone_index] if zone_index is not None else area
        zone = resolve(named)
        if zone is None:
            unknown.append(named)
            continue
        if zone in owners:
            raise CalendarError(
                f"{AREA_DAYS}: areas {owners[zone]!r} and {area!r} are both zone {zone}; "
                "one zone has one schedule",
                code="calendar.zone_twice",
                file=AREA_DAYS,
                first=owners[zone],
                second=area,
                zone=zone,
            )
        owners[zone] = area
        breaks = suspensions.get(center, [])
        if center and suspensions and center not in suspensions:
            warnings.append(f"{area}: センター {center!r} is not in {CENTER}; no break applied")
        for index in kind_columns:
            kind = header[index]
            try:
                cell = unicodedata.normalize("NFKC", row[index])
                days, notes = cell_dates(cell, start, end, remarks)
            except ValueError as exc:
                coded = exc if isinstance(exc, CalendarError) else None
                code = coded.code if coded else "calendar.series.unreadable"
                params = {"area": area, "column": kind, "problem": str(exc)}
                params.update(coded.params if coded else {})
                skipped.append(Skipped(f"{area}/{kind}", kind, str(exc), code, params))
                continue
            for day in days:
                if any(first <= day <= last for first, last in breaks):
                    continue
                collector.add(zone, day, kind, notes)
    if unknown:
        raise CalendarError(
            f"{AREA_DAYS}: {len(unknown)} area(s) name no known zone, e.g. {unknown[0]!r}; "
            f"map them in garbage.zone_aliases or give a zone column (known: {', '.join(zones)})",
            code="calendar.area_no_zone",
            file=AREA_DAYS,
            count=len(unknown),
            area=unknown[0],
            known="、".join(zones),
        )
    problems = [*map(str, skipped), *warnings]
    if strict and skipped:
        raise CalendarError(
            f"{len(skipped)} cell(s) cannot be imported (--strict refuses the data set)",
            problems,
            code="calendar.strict_cells",
            skipped=skipped,
            count=len(skipped),
        )
    parsed = collector.result(warnings, skipped)
    if not parsed.days:
        last = end - timedelta(days=1)
        raise CalendarError(
            f"no collection days between {start} and {last}",
            problems,
            code="calendar.no_days",
            skipped=skipped,
            start=start.isoformat(),
            end=last.isoformat(),
        )
    return parsed


def _zone_index(header: Sequence[str], zone_column: str | None) -> int | None:
    if not zone_column:
        return None
    if zone_column not in header:
        raise CalendarError(
            f"{AREA_DAYS}: no column {zone_column!r} (columns: {', '.join(header)})",
            code="calendar.no_zone_column",
            file=AREA_DAYS,
            column=zone_column,
            columns="、".join(header),
        )
    return list(header).index(zone_column)


def _remarks(data: bytes | None) -> dict[str, str]:
    if data is None:
        return {}
    found: dict[str, str] = {}
    for row in read_csv(data, REMARKS, nfkc=False):
        key = unicodedata.normalize("NFKC", row[0])
        if len(row) >= 2 and key.isdigit() and row[1]:
            found[key] = row[1]
    return found


def _suspensions(data: bytes | None) -> dict[str, list[tuple[date, date]]]:
    """センター -> [(first, last)] days without collection (both inclusive)."""
    if data is None:
        return {}
    found: dict[str, list[tuple[date, date]]] = {}
    for number, row in enumerate(read_csv(data, CENTER), start=1):
        if len(row) < 3 or not row[0]:
            continue
        first, last = _date(row[1]), _date(row[2])
        if first is None or last is None:
            if number == 1:
                continue  # the header 名称,休止開始日,休止終了日
            raise CalendarError(
                f"{CENTER} line {number}: {row[1]!r} to {row[2]!r} is not a date range "
                "(expected 2026/12/29,2027/01/03)",
                code="calendar.break_not_dates",
                file=CENTER,
                line=number,
                first=row[1],
                last=row[2],
            )
        if last < first:
            raise CalendarError(
                f"{CENTER} line {number}: the break ends before it starts",
                code="calendar.break_reversed",
                file=CENTER,
                line=number,
            )
        found.setdefault(row[0], []).append((first, last))
    return found


def _date(text: str) -> date | None:
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None
