"""`/console/kpis`: the fiscal year's KPIs with charts and CSV downloads;
`/console/kpis/report`: the same report as a printable Japanese page. Charts are SVG drawn
on the server; the figures are GET /api/v1/kpis/report's (`report.build`, suppression
included), and the CSV files are the API's tables (`tables.table_csv`) downloaded with the
console's session, since staff hold no API token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.clock import utcnow
from broadcaster.console.web import ConsoleStaff, render
from broadcaster.kpis import charts, fiscal, report, tables
from broadcaster.kpis.deliveries import DeliveryClass
from broadcaster.settings import Settings

router = APIRouter(include_in_schema=False)
FiscalYear = Annotated[int | None, Query(ge=2000, le=2100)]
# What each CSV holds, for the download list.
TABLE_LABELS = {
    "kpis": "指標と目標",
    "friends_daily": "友だち数（日別）",
    "friends_by_month": "友だち数（月別）",
    "friends_by_district": "友だち数（地区別）",
    "deliveries_by_department": "配信数（課別）",
    "deliveries_by_month": "配信数（月別）",
    "deliveries_by_department_month": "配信数（課・月別）",
    "quota_by_month": "メッセージ通数と上限（月別）",
    "blocks_by_broadcast": "ブロック（配信別）",
    "blocks_by_department": "ブロック（課別）",
    "surveys": "満足度アンケート",
}


def _counted(row: dict[str, Any]) -> int:
    """Broadcasts the city counts in a row of deliveries: notices and emergencies."""
    return sum(row[f"{cls}_broadcasts"] for cls in (DeliveryClass.notice, DeliveryClass.emergency))


def _charts(data: dict[str, Any], year: int) -> dict[str, charts.Chart]:
    months = [m[5:] + "月" for m in fiscal.months(year)]
    friends_by_month = {row["month"]: row for row in data["friends"]["by_month"]}
    kpis = {row["key"]: row for row in data["kpis"]}
    deliveries = data["deliveries"]["by_month"]
    counted = [_counted(row) for row in deliveries]
    return {
        "friends": charts.bar_chart(
            months,
            [friends_by_month.get(m, {}).get("friends") for m in fiscal.months(year)],
            target=kpis["friends"]["target"],
            line=True,
        ),
        "deliveries": charts.bar_chart(months, counted),
        "quota": charts.bar_chart(
            months,
            [row["used"] for row in data["deliveries"]["quota"]],
            target=data["deliveries"]["quota"][0]["limit"],
        ),
    }


@router.get("/console/kpis/report", response_class=HTMLResponse)
def report_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: ConsoleStaff,
    fiscal_year: FiscalYear = None,
) -> HTMLResponse:
    year = _year(fiscal_year, settings)
    data = report.build(session, settings, year, utcnow())
    return render(
        request,
        "kpis_report.html",
        staff,
        r=data,
        year=year,
        charts=_charts(data, year),
        class_labels=report.CLASS_LABELS,
        tables=list(tables.TABLES),
    )


def _year(fiscal_year: int | None, settings: Settings) -> int:
    return fiscal_year if fiscal_year is not None else fiscal.fiscal_year_at(utcnow(), settings.tz)


def _page_charts(data: dict[str, Any], year: int) -> dict[str, charts.Chart]:
    """The report's charts, and the page's own: per department, satisfaction, blocks."""
    drawn = _charts(data, year)
    departments = data["deliveries"]["by_department"]
    drawn["by_department"] = charts.bar_chart(
        [row["department"] for row in departments],
        [_counted(row) for row in departments],
    )
    kpis = {row["key"]: row for row in data["kpis"]}
    drawn["satisfaction"] = charts.bar_chart(
        [kpis[key]["label"].split("（")[0] for key in report.SURVEY_KPIS],
        [data["surveys"][key]["average"] for key in report.SURVEY_KPIS],
    )
    drawn["blocks"] = charts.bar_chart(
        [m[5:] + "月" for m in fiscal.months(year)],
        [row["blocks"] for row in data["friends"]["by_month"]]
        + [None] * (12 - len(data["friends"]["by_month"])),
    )
    return drawn


@router.get("/console/kpis", response_class=HTMLResponse)
def kpis_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: ConsoleStaff,
    fiscal_year: FiscalYear = None,
) -> HTMLResponse:
    year = _year(fiscal_year, settings)
    data = report.build(session, settings, year, utcnow())
    return render(
        request,
        "kpis.html",
        staff,
        r=data,
        year=year,
        charts=_page_charts(data, year),
        class_labels=report.CLASS_LABELS,
        tables=TABLE_LABELS,
    )


@router.get("/console/kpis/tables/{table}.csv")
def table_csv(
    table: str,
    session: SessionDep,
    settings: SettingsDep,
    staff: ConsoleStaff,
    fiscal_year: FiscalYear = None,
) -> Response:
    """One of the report's tables, the same file as the API's
    /api/v1/kpis/report/tables/{table}.csv."""
    if table not in tables.TABLES:
        raise HTTPException(404)
    year = _year(fiscal_year, settings)
    body = tables.table_csv(report.build(session, settings, year, utcnow()), table)
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="fy{year}_{table}.csv"'},
    )
