"""The fiscal-year report: every KPI against the city's targets, and the tables behind them.

One function builds it from the database (`build`); the API answers it as JSON, each table
as CSV, and the console draws it as a printable page. Every count of residents in it has
passed through `suppression.shown` once, here, so no view can show a small count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from broadcaster import ledger
from broadcaster.clock import local
from broadcaster.kpis import blocks, deliveries, fiscal, friend_figures, friends, surveys
from broadcaster.kpis.deliveries import COUNTED, DeliveryClass, SentBroadcast
from broadcaster.kpis.models import FollowerStatistic, UnitStatistic
from broadcaster.kpis.suppression import Shown, shown
from broadcaster.settings import Settings

KPI_LABELS = {
    "friends": "友だち数（年度末）",
    "deliveries": "セグメント配信数（年間）",
    "delivery_satisfaction": "配信満足度（5段階平均）",
    "service_satisfaction": "サービス満足度（5段階平均）",
    "staff_satisfaction": "職員満足度（5段階平均）",
}
CLASS_LABELS = {
    DeliveryClass.notice: "お知らせ",
    DeliveryClass.emergency: "緊急",
    DeliveryClass.drill: "訓練",
    DeliveryClass.garbage: "ごみ収集",
}
SURVEY_KPIS = ("delivery_satisfaction", "service_satisfaction", "staff_satisfaction")


@dataclass(frozen=True, slots=True)
class Period:
    year: int
    first: date
    last: date  # the last day with figures: the year's end, or today while it runs
    start: datetime
    end: datetime  # exclusive, UTC


def period(year: int, settings: Settings, now: datetime) -> Period:
    start, end = fiscal.bounds(year, settings.tz)
    today = local(now, settings.tz).date()
    last = min(fiscal.last_day(year), today)
    return Period(year, fiscal.first_day(year), last, start, min(end, now))


def _kpi(key: str, actual: Shown | float | None, target: float | None) -> dict[str, Any]:
    achieved: bool | None = None
    if target is not None and isinstance(actual, int | float) and not isinstance(actual, bool):
        achieved = actual >= target
    return {
        "key": key,
        "label": KPI_LABELS[key],
        "actual": actual,
        "target": target,
        "achieved": achieved,
    }


def build(session: Session, settings: Settings, year: int, now: datetime) -> dict[str, Any]:
    """The whole report for fiscal year `year` as JSON-ready data."""
    # Blocks are attributed through residents' delivery rows: write those of batches the
    # ledger has not reached yet.
    ledger.catch_up(session, now)
    k = settings.kpis
    t = k.suppression_threshold
    p = period(year, settings, now)
    friend_days: list[friends.FriendDay] = []
    by_district: dict[str, list[friends.FriendDay]] = {}
    figures = friend_figures.current(session, now, settings.tz)
    if p.last >= p.first:
        friend_days, by_district = friends.series_from(figures.per_district, p.first, p.last)
    sent = deliveries.sent_broadcasts(session, p.start, p.end)
    window = timedelta(hours=k.block_window_hours)
    earlier = deliveries.sent_broadcasts(session, p.start - window, p.start)
    tallies = deliveries.figures(sent, settings.tz)
    quota = deliveries.quota_by_month(session, p.start, p.end, settings.tz)
    attributed = blocks.attributed_blocks(session, sent, p.start, p.end, window, earlier)
    survey_figures = {kpi: _survey_figures(session, kpi, p, t) for kpi in SURVEY_KPIS}

    friends_end = friend_days[-1].friends if friend_days else 0
    targets = k.targets
    kpis = [
        _kpi("friends", shown(friends_end, t), targets.friends.get(year)),
        _kpi("deliveries", tallies.counted.broadcasts, targets.deliveries.get(year)),
        *(
            _kpi(kpi, survey_figures[kpi]["average"], getattr(targets, kpi).get(year))
            for kpi in SURVEY_KPIS
        ),
    ]
    return {
        "fiscal_year": year,
        "label": f"{year}年度",
        "period": {"from": p.first.isoformat(), "to": fiscal.last_day(year).isoformat(),
                   "figures_until": p.last.isoformat() if p.last >= p.first else None},
        "generated_at": local(now, settings.tz).isoformat(timespec="seconds"),
        "suppression_threshold": t,
        "kpis": kpis,
        "friends": {
            **_friends_section(session, friend_days, by_district, settings),
            "figures_as_of": local(figures.as_of, settings.tz).isoformat(timespec="seconds"),
        },
        "deliveries": _deliveries_section(tallies, quota, year, settings),
        "blocks": _blocks_section(sent, attributed, session, settings),
        "surveys": survey_figures,
    }


def _friends_section(
    session: Session,
    days: list[friends.FriendDay],
    by_district: dict[str, list[friends.FriendDay]],
    settings: Settings,
) -> dict[str, Any]:
    t = settings.kpis.suppression_threshold
    end = days[-1].friends if days else 0
    population = settings.kpis.population
    line = session.exec(
        select(FollowerStatistic).order_by(col(FollowerStatistic.day).desc())
    ).first()
    return {
        "end_of_period": shown(end, t),
        "new_friends": shown(sum(d.new_friends for d in days), t),
        "refollows": shown(sum(d.refollows for d in days), t),
        "blocks": shown(sum(d.blocks for d in days), t),
        "share_of_population": (
            round(100 * end / population, 1) if population and end >= t else None
        ),
        "line_insight": None if line is None else {
            "day": line.day,
            "followers": line.followers,
            "targeted_reaches": line.targeted_reaches,
            "blocks": line.blocks,
        },
        "daily": [day_row(d, t) for d in days],
        "by_month": [
            {"month": month, **day_row(d, t, with_day=False)}
            for month, d in friends.monthly(days).items()
        ],
        "by_district": [
            {
                "district": district,
                "friends": shown(series[-1].friends, t),
                "new_friends": shown(sum(d.new_friends for d in series), t),
                "refollows": shown(sum(d.refollows for d in series), t),
                "blocks": shown(sum(d.blocks for d in series), t),
            }
            for district, series in by_district.items()
        ],
    }


def day_row(d: friends.FriendDay, t: int, *, with_day: bool = True) -> dict[str, Any]:
    row: dict[str, Any] = {"day": d.day.isoformat()} if with_day else {}
    row.update(
        friends=shown(d.friends, t),
        new_friends=shown(d.new_friends, t),
        refollows=shown(d.refollows, t),
        blocks=shown(d.blocks, t),
    )
    return row


def _deliveries_section(
    tallies: deliveries.DeliveryFigures, quota: dict[str, int], year: int, settings: Settings
) -> dict[str, Any]:
    t = settings.kpis.suppression_threshold
    limit = settings.kpis.monthly_message_limit
    departments = sorted({d for d, _ in tallies.by_department})
    by_department = []
    for department in departments:
        row: dict[str, Any] = {"department": department}
        for cls in DeliveryClass:
            tally = tallies.by_department.get((department, cls), deliveries.Tally())
            row[f"{cls}_broadcasts"] = tally.broadcasts
            row[f"{cls}_messages"] = shown(tally.messages, t)
        by_department.append(row)
    by_month = []
    for month in fiscal.months(year):
        row = {"month": month}
        for cls in DeliveryClass:
            tally = tallies.by_month.get((month, cls), deliveries.Tally())
            row[f"{cls}_broadcasts"] = tally.broadcasts
            row[f"{cls}_messages"] = shown(tally.messages, t)
        by_month.append(row)
    department_month = [
        {"department": d, "month": m, "broadcasts": tally.broadcasts,
         "messages": shown(tally.messages, t)}
        for (d, m), tally in sorted(tallies.by_department_month.items())
    ]
    return {
        "counted_classes": sorted(COUNTED),
        "counted": {
            "broadcasts": tallies.counted.broadcasts,
            "messages": shown(tallies.counted.messages, t),
        },
        "by_department": by_department,
        "by_month": by_month,
        "by_department_month": department_month,
        "quota": [
            {
                "month": month,
                "used": shown(quota.get(month, 0), t),
                "limit": limit or None,
                "used_percent": (
                    round(100 * quota.get(month, 0) / limit, 1)
                    if limit and quota.get(month, 0) >= t
                    else None
                ),
            }
            for month in fiscal.months(year)
        ],
    }


def _blocks_section(
    sent: list[SentBroadcast],
    attributed: blocks.AttributedBlocks,
    session: Session,
    settings: Settings,
) -> dict[str, Any]:
    t = settings.kpis.suppression_threshold
    stats = {
        s.broadcast_id: s
        for s in session.exec(
            select(UnitStatistic).where(
                col(UnitStatistic.broadcast_id).in_([b.broadcast_id for b in sent])
            )
        ).all()
    } if sent else {}
    by_broadcast = []
    per_department: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for item in sent:
        count = attributed.per_broadcast.get(item.broadcast_id, 0)
        stat = stats.get(item.broadcast_id)
        by_broadcast.append(
            {
                "broadcast_id": item.broadcast_id,
                "title": item.title,
                "department": item.department,
                "class": item.delivery_class,
                "sent_at": local(item.first_accepted_at, settings.tz).isoformat(timespec="seconds"),
                "recipients": shown(item.recipients, t),
                "blocks": shown(count, t),
                "block_rate_percent": (
                    round(100 * count / item.recipients, 2)
                    if count >= t and item.recipients
                    else None
                ),
                # LINE's own figures (None below 20 users, or not fetched yet).
                "opened": stat.unique_impression if stat else None,
                "clicked": stat.unique_click if stat else None,
            }
        )
        tally = per_department[item.department]
        tally[0] += 1
        tally[1] += item.recipients
        tally[2] += count
    return {
        "window_hours": settings.kpis.block_window_hours,
        "total": shown(attributed.total, t),
        "attributed": shown(sum(attributed.per_broadcast.values()), t),
        "unattributed": shown(attributed.unattributed, t),
        "by_broadcast": by_broadcast,
        "by_department": [
            {
                "department": department,
                "broadcasts": n,
                "recipients": shown(recipients, t),
                "blocks": shown(count, t),
                "block_rate_percent": (
                    round(100 * count / recipients, 2) if count >= t and recipients else None
                ),
            }
            for department, (n, recipients, count) in sorted(per_department.items())
        ],
    }


def _survey_figures(session: Session, kpi: str, p: Period, t: int) -> dict[str, Any]:
    found = surveys.surveys_for(session, kpi, p.start, p.end)
    ids = [s.id for s in found if s.id is not None]
    overall, by_district, comments = surveys.tallies(session, ids)
    return {
        "surveys": ids,
        **overall.shown(t),
        "comments": shown(comments, t),
        "by_district": {d: tally.shown(t) for d, tally in by_district.items()},
    }
