"""`/api/v1/kpis`: the fiscal-year report (one call), its tables as CSV, friends over time,
and fetching LINE's own statistics.

Any department may read the report (the figures are the city's, not a department's);
fetching from LINE is for admins, since it spends the channel's 60 insight requests an
hour. Every count of residents is a number or "< 20" (`kpis.suppression_threshold`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from broadcaster.api.deps import EngineDep, SessionDep, SettingsDep
from broadcaster.auth import AdminActor, CurrentActor
from broadcaster.clock import utcnow
from broadcaster.errors import FieldError, NotFound, Refused
from broadcaster.kpis import fiscal, insight, report, tables
from broadcaster.kpis.friends import series
from broadcaster.kpis.report import day_row
from broadcaster.kpis.suppression import Shown
from broadcaster.timestamps import CityTimestamp

router = APIRouter(prefix="/kpis", tags=["kpis"])

FiscalYear = Annotated[
    int | None,
    Query(ge=2000, le=2100, description="Fiscal year (the year its April is in); default: now"),
]
MAX_SERIES_DAYS = 400


class Period(BaseModel):
    from_: date = Field(alias="from")
    to: date
    figures_until: date | None = Field(description="the last day with figures; null before")


class KpiReport(BaseModel):
    """The fiscal year's figures; each count of residents is a number or "< 20"."""

    fiscal_year: int
    label: str
    period: Period
    generated_at: CityTimestamp
    suppression_threshold: int
    kpis: list[dict[str, Any]] = Field(description="each KPI with its target and value")
    friends: dict[str, Any]
    deliveries: dict[str, Any]
    blocks: dict[str, Any]
    surveys: dict[str, Any]


class TableNames(BaseModel):
    tables: list[str]


class FriendRow(BaseModel):
    day: date
    friends: Shown
    new_friends: Shown
    refollows: Shown
    blocks: Shown


class FriendSeries(BaseModel):
    suppression_threshold: int
    daily: list[FriendRow]
    by_district: dict[str, list[FriendRow]]


class FollowerFigures(BaseModel):
    day: str = Field(description="yyyyMMdd, as LINE names the day")
    status: str
    followers: int | None
    targeted_reaches: int | None
    blocks: int | None


class StatisticsFetched(BaseModel):
    fetched: int
    remaining: int = Field(description="broadcasts left for a later run")
    rate_limited: bool
    followers: FollowerFigures | None


def _year(year: int | None, settings: Any) -> int:
    return year if year is not None else fiscal.fiscal_year_at(utcnow(), settings.tz)


@router.get("/report", summary="The fiscal-year report: every KPI against its target")
def get_report(
    actor: CurrentActor, session: SessionDep, settings: SettingsDep, fiscal_year: FiscalYear = None
) -> KpiReport:
    return KpiReport.model_validate(
        report.build(session, settings, _year(fiscal_year, settings), utcnow())
    )


@router.get(
    "/report/tables/{table}.csv",
    summary="One table of the fiscal-year report as CSV (UTF-8 with BOM)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def get_table(
    table: str,
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    fiscal_year: FiscalYear = None,
) -> Response:
    if table not in tables.TABLES:
        raise NotFound("not_found.kpi_table", ident=table, known=", ".join(tables.TABLES))
    year = _year(fiscal_year, settings)
    body = tables.table_csv(report.build(session, settings, year, utcnow()), table)
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="fy{year}_{table}.csv"'},
    )


@router.get("/report/tables", summary="The names of the report's CSV tables")
def list_tables(actor: CurrentActor) -> TableNames:
    return TableNames(tables=list(tables.TABLES))


@router.get("/friends", summary="Friends, new friends, re-follows and blocks per day")
def get_friends(
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    start: Annotated[date, Query(alias="from", description="First day (Asia/Tokyo)")],
    end: Annotated[date, Query(alias="to", description="Last day, included")],
) -> FriendSeries:
    if end < start or (end - start).days >= MAX_SERIES_DAYS:
        raise Refused(
            "kpis.range",
            errors=[FieldError("to", code="kpis.range", params={"days": MAX_SERIES_DAYS})],
            days=MAX_SERIES_DAYS,
        )
    t = settings.kpis.suppression_threshold
    overall, by_district = series(session, start, end, settings.tz)
    return FriendSeries.model_validate({
        "suppression_threshold": t,
        "daily": [day_row(d, t) for d in overall],
        "by_district": {name: [day_row(d, t) for d in days] for name, days in by_district.items()},
    })


@router.post(
    "/line-statistics/fetch",
    summary="Fetch LINE's per-broadcast and follower figures (admin)",
)
def fetch_line_statistics(
    actor: AdminActor, engine: EngineDep, settings: SettingsDep
) -> StatisticsFetched:
    """Per-unit open/click figures for broadcasts of the last 14 days (LINE updates them
    that long), and yesterday's follower count. Stops at LINE's rate limit (60 insight
    requests an hour); the hourly job, or a later call, fetches the rest."""
    return StatisticsFetched.model_validate(insight.fetch_recent(engine, settings, utcnow()))
