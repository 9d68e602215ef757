"""The friends figures as a stored tally, so pages do not replay the follow history.

`friends.deltas` reads every resident and every follow event: about 0.1 s for 100k
residents on SQLite, and it grows with the town. The console's residents and KPI pages
drew it on every request (0.33–0.39 s median for the residents page at 100k, over its
0.3 s budget). The leader's scheduler now tallies it every `EVERY_MINUTES` into
`friend_figure` (a row per district and day: a few thousand rows for years of history),
and readers take that tally while it is younger than `MAX_AGE`, saying when it was made,
as LINE's own statistics and the commercial dashboards do ("as of 12:40"). A town
without a recent tally (a fresh install, a stopped scheduler) gets the figures computed
on the spot: never older figures than `MAX_AGE` without saying so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlmodel import Session

from broadcaster.clock import as_utc
from broadcaster.db import table_of
from broadcaster.kpis.friends import DayChanges, deltas
from broadcaster.kpis.models import FiguresTally, FriendFigure

EVERY_MINUTES = 10
MAX_AGE = timedelta(minutes=2 * EVERY_MINUTES)  # one missed run is tolerated
NAME = "friends"


@dataclass(frozen=True, slots=True)
class Figures:
    per_district: Mapping[str, DayChanges]
    as_of: datetime  # UTC: events before this instant are counted
    tallied: bool  # from the stored tally (False: computed for this request)


def tally(session: Session, now: datetime, tz: tzinfo) -> int:
    """Replace the stored tally with the figures up to `now` (in the caller's
    transaction, so readers see the old tally or the new one, never half of each).
    Returns the number of rows written."""
    rows = [
        {
            "district": district,
            "day": day,
            "friends": d.friends.get(day, 0),
            "new_friends": d.new.get(day, 0),
            "refollows": d.refollows.get(day, 0),
            "blocks": d.blocks.get(day, 0),
        }
        for district, d in deltas(session, now, tz).items()
        for day in sorted({*d.friends, *d.new, *d.refollows, *d.blocks})
    ]
    connection = session.connection()
    figures = table_of(FriendFigure)
    connection.execute(sa.delete(figures))
    if rows:
        connection.execute(sa.insert(figures), rows)
    done = session.get(FiguresTally, NAME)
    if done is None:
        session.add(FiguresTally(name=NAME, tallied_at=now))
    else:
        done.tallied_at = now
    return len(rows)


def current(session: Session, now: datetime, tz: tzinfo) -> Figures:
    """The stored tally when it is recent, else the figures computed now."""
    done = session.get(FiguresTally, NAME)
    if done is not None and now - MAX_AGE <= as_utc(done.tallied_at) <= now:
        return Figures(_stored(session), as_utc(done.tallied_at), tallied=True)
    return Figures(deltas(session, now, tz), now, tallied=False)


def _stored(session: Session) -> dict[str, DayChanges]:
    figures = table_of(FriendFigure)
    out: dict[str, DayChanges] = defaultdict(DayChanges)
    for row in session.connection().execute(sa.select(figures)):
        d = out[row.district]
        for into, n in (
            (d.friends, row.friends),
            (d.new, row.new_friends),
            (d.refollows, row.refollows),
            (d.blocks, row.blocks),
        ):
            if n:
                into[row.day] += n
    return dict(out)
