"""`/console/residents`: who follows the account, by district, zone, language and
interest, and friends and blocks month by month.

Every figure is one aggregate query (GROUP BY over the resident table's indexes, never a
row per resident in Python), so the page answers as fast for 100k residents as for 600.
Counts below `kpis.suppression_threshold` are shown as "< 20", as the KPI report shows
them: a page any department opens must not single out a handful of people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.clock import utcnow
from broadcaster.console.web import ConsoleStaff, render
from broadcaster.kpis import charts, friend_figures
from broadcaster.kpis.friends import months_from
from broadcaster.kpis.suppression import Shown, shown
from segments.catalog import STAFF_LANGUAGE_NAMES
from segments.residents import FollowState, Resident, ResidentInterest

router = APIRouter(include_in_schema=False)

UNSET = "未設定"


def _counts(session: Session, column: Any) -> dict[Any, int]:
    following = Resident.follow_state == FollowState.following
    query = select(column, sa.func.count()).where(following).group_by(column)
    return {key: int(n) for key, n in session.exec(query).all()}


def _rows(
    counts: Mapping[Any, int], names: Iterable[str], t: int, labels: Mapping[str, str] = {}
) -> list[tuple[str, Shown]]:
    """Each configured name with its count (0 too), then any other value found (a value
    since removed from the settings), then residents who have not chosen one."""
    listed = list(names)
    rows = [(labels.get(name, name), shown(counts.get(name, 0), t)) for name in listed]
    rows += [
        (labels.get(key, key), shown(n, t))
        for key, n in sorted(counts.items(), key=lambda kv: str(kv[0]))
        if key is not None and key not in listed
    ]
    if counts.get(None):
        rows.append((UNSET, shown(counts[None], t)))
    return rows


@router.get("/console/residents", response_class=HTMLResponse)
def residents(
    request: Request, session: SessionDep, settings: SettingsDep, staff: ConsoleStaff
) -> Response:
    t = settings.kpis.suppression_threshold
    by_state = {
        state: int(n)
        for state, n in session.exec(
            select(Resident.follow_state, sa.func.count()).group_by(Resident.follow_state)
        ).all()
    }
    interests = {
        interest: int(n)
        for interest, n in session.exec(
            select(ResidentInterest.interest, sa.func.count())
            .join(Resident, col(Resident.id) == col(ResidentInterest.resident_id))
            .where(Resident.follow_state == FollowState.following)
            .group_by(ResidentInterest.interest)
        ).all()
    }
    r = settings.residents
    now = utcnow()
    figures = friend_figures.current(session, now, settings.tz)
    months = months_from(figures.per_district, now, settings.tz)
    labels = [m.month[5:].lstrip("0") + "月" for m in months]
    return render(
        request,
        "residents.html",
        staff,
        following=shown(by_state.get(FollowState.following, 0), t),
        blocked=shown(by_state.get(FollowState.blocked, 0), t),
        threshold=t,
        figures_as_of=figures.as_of,
        figures_every=friend_figures.EVERY_MINUTES,
        groups=[
            ("地区別", "地区", _rows(_counts(session, Resident.district), r.districts, t)),
            (
                "ごみ収集地区別",
                "収集地区",
                _rows(_counts(session, Resident.garbage_zone), r.zones, t),
            ),
            (
                "言語別",
                "言語",
                _rows(
                    _counts(session, Resident.language),
                    STAFF_LANGUAGE_NAMES,
                    t,
                    STAFF_LANGUAGE_NAMES,
                ),
            ),
            ("関心分野別", "関心分野", _rows(interests, r.interests, t)),
        ],
        months=[(m, shown(m.friends, t), shown(m.follows, t), shown(m.blocks, t)) for m in months],
        friends_chart=charts.bar_chart(labels, [shown(m.friends, t) for m in months], line=True),
        changes_chart=charts.bar_chart(labels, [shown(m.follows, t) for m in months]),
        blocks_chart=charts.bar_chart(labels, [shown(m.blocks, t) for m in months]),
    )
