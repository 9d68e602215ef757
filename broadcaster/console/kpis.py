"""`/console/kpis/report`: the fiscal-year report as a printable Japanese page with SVG
charts drawn on the server (the same figures as GET /api/v1/kpis/report, suppression
included). Signed in like the rest of the console."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.clock import utcnow
from broadcaster.console.web import ConsoleStaff, render
from broadcaster.kpis import charts, fiscal, report, tables
from broadcaster.kpis.deliveries import DeliveryClass

router = APIRouter(include_in_schema=False)


def _charts(data: dict[str, Any], year: int) -> dict[str, charts.Chart]:
    months = [m[5:] + "月" for m in fiscal.months(year)]
    friends_by_month = {row["month"]: row for row in data["friends"]["by_month"]}
    kpis = {row["key"]: row for row in data["kpis"]}
    deliveries = data["deliveries"]["by_month"]
    counted = [
        sum(row[f"{cls}_broadcasts"] for cls in (DeliveryClass.notice, DeliveryClass.emergency))
        for row in deliveries
    ]
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
    fiscal_year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> HTMLResponse:
    now = utcnow()
    year = fiscal_year if fiscal_year is not None else fiscal.fiscal_year_at(now, settings.tz)
    data = report.build(session, settings, year, now)
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
