"""The report's tables as CSV, one file per table, for the city's own spreadsheets.

UTF-8 with a byte-order mark, because Excel in Japan reads a CSV without one as Shift_JIS
and garbles every kanji. Values are the report's own, so suppressed counts stay "< 20".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Rows = list[dict[str, Any]]


def _kpis(report: Mapping[str, Any]) -> Rows:
    return [
        {k: row[k] for k in ("key", "label", "actual", "target", "achieved")}
        for row in report["kpis"]
    ]


def _surveys(report: Mapping[str, Any]) -> Rows:
    rows = []
    for kpi, figures in report["surveys"].items():
        groups = [("(全体)", figures), *figures["by_district"].items()]
        for district, group in groups:
            rows.append(
                {
                    "kpi": kpi,
                    "district": district,
                    "respondents": group["respondents"],
                    "average": group["average"],
                    **{f"score_{s}": n for s, n in group["distribution"].items()},
                }
            )
    return rows


_CLASSES = ("notice", "emergency", "drill", "garbage")
_BY_CLASS = [f"{c}_{what}" for c in _CLASSES for what in ("broadcasts", "messages")]
_FRIENDS = ["friends", "new_friends", "refollows", "blocks"]
# Every table's columns, so an empty table still has its header.
COLUMNS: Mapping[str, list[str]] = {
    "kpis": ["key", "label", "actual", "target", "achieved"],
    "friends_daily": ["day", *_FRIENDS],
    "friends_by_month": ["month", *_FRIENDS],
    "friends_by_district": ["district", *_FRIENDS],
    "deliveries_by_department": ["department", *_BY_CLASS],
    "deliveries_by_month": ["month", *_BY_CLASS],
    "deliveries_by_department_month": ["department", "month", "broadcasts", "messages"],
    "quota_by_month": ["month", "used", "limit", "used_percent"],
    "blocks_by_broadcast": [
        "broadcast_id", "title", "department", "class", "sent_at", "recipients", "blocks",
        "block_rate_percent", "opened", "clicked",
    ],
    "blocks_by_department": [
        "department", "broadcasts", "recipients", "blocks", "block_rate_percent",
    ],
    "surveys": [
        "kpi", "district", "respondents", "average", *(f"score_{s}" for s in range(1, 6)),
    ],
}

TABLES: Mapping[str, Callable[[Mapping[str, Any]], Rows]] = {
    "kpis": _kpis,
    "friends_daily": lambda r: list(r["friends"]["daily"]),
    "friends_by_month": lambda r: list(r["friends"]["by_month"]),
    "friends_by_district": lambda r: list(r["friends"]["by_district"]),
    "deliveries_by_department": lambda r: list(r["deliveries"]["by_department"]),
    "deliveries_by_month": lambda r: list(r["deliveries"]["by_month"]),
    "deliveries_by_department_month": lambda r: list(r["deliveries"]["by_department_month"]),
    "quota_by_month": lambda r: list(r["deliveries"]["quota"]),
    "blocks_by_broadcast": lambda r: list(r["blocks"]["by_broadcast"]),
    "blocks_by_department": lambda r: list(r["blocks"]["by_department"]),
    "surveys": _surveys,
}


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """CSV text with a BOM; None prints as an empty cell, booleans as true/false."""
    out = io.StringIO()
    fields = list(columns or (rows[0].keys() if rows else []))
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in fields})
    return "\ufeff" + out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def table_csv(report: Mapping[str, Any], name: str) -> str:
    """One table of the report as CSV. Raises KeyError for an unknown table name."""
    return to_csv(TABLES[name](report), COLUMNS[name])
