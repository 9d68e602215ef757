"""Friends over time: every follow and block as an event, and the daily series from them.

The webhook calls `record` for each follow and unfollow it applies (also a late or
out-of-order one: the series orders events by when they happened, so a late event lands
on its own day). Residents known from before events were recorded (imported, or followed
before this table existed) count from their `followed_at`, and from `blocked_at` if they
are blocked now.

Figures per day (Asia/Tokyo): friends at the end of the day (following), new friends (a
first follow), re-follows, and blocks. By district means the resident's district now: a
resident chooses it only after following, so the district at the moment of the follow is
usually not known yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

import sqlalchemy as sa
from sqlmodel import Session

from broadcaster.clock import as_utc
from broadcaster.db import table_of
from broadcaster.kpis.fiscal import days
from broadcaster.kpis.models import FriendEvent, FriendEventKind
from segments.residents import FollowState, Resident

NO_DISTRICT = "(未設定)"


def record(
    session: Session, resident: Resident, kind: FriendEventKind, occurred: datetime, now: datetime
) -> None:
    """Add one follow or block of `resident` at `occurred` (in the caller's transaction)."""
    if resident.id is None:
        session.add(resident)
        session.flush()
    assert resident.id is not None
    session.add(
        FriendEvent(resident_id=resident.id, kind=kind, occurred_at=occurred, recorded_at=now)
    )


Event = tuple[datetime, FriendEventKind]


@dataclass(slots=True)
class FriendDay:
    day: date
    friends: int = 0
    new_friends: int = 0
    refollows: int = 0
    blocks: int = 0


@dataclass(slots=True)
class DayChanges:
    """Per local day: the change in friends, first follows, re-follows and blocks."""

    friends: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    new: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    refollows: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    blocks: dict[date, int] = field(default_factory=lambda: defaultdict(int))


def daily_series(
    histories: Iterable[Sequence[Event]], start: date, end: date, tz: tzinfo
) -> list[FriendDay]:
    """One FriendDay per day from `start` to `end` (both included), from each resident's
    events (any order). Pure: the events are the only input."""
    deltas = DayChanges()
    for history in histories:
        _add_history(deltas, sorted(history, key=lambda e: (e[0], e[1] == "follow")), tz)
    return _from_deltas(deltas, start, end)


def _add_history(deltas: DayChanges, events: Sequence[Event], tz: tzinfo) -> None:
    following = False
    followed_before = False
    for at, kind in events:
        day = as_utc(at).astimezone(tz).date()
        if kind == FriendEventKind.follow:
            if followed_before:
                deltas.refollows[day] += 1
            else:
                deltas.new[day] += 1
                followed_before = True
            if not following:
                deltas.friends[day] += 1
                following = True
        else:
            deltas.blocks[day] += 1
            if following:
                deltas.friends[day] -= 1
                following = False


def histories_by_district(session: Session, until: datetime) -> dict[str, list[list[Event]]]:
    """Each resident's events up to `until`, grouped by the resident's district now."""
    events = table_of(FriendEvent)
    residents = table_of(Resident)
    recorded: dict[int, list[Event]] = defaultdict(list)
    for resident_id, kind, occurred in session.connection().execute(
        sa.select(events.c.resident_id, events.c.kind, events.c.occurred_at).where(
            events.c.occurred_at < until
        )
    ):
        recorded[resident_id].append((as_utc(occurred), FriendEventKind(kind)))
    grouped: dict[str, list[list[Event]]] = defaultdict(list)
    for row in session.connection().execute(
        sa.select(
            residents.c.id,
            residents.c.district,
            residents.c.follow_state,
            residents.c.followed_at,
            residents.c.blocked_at,
        )
    ):
        history = recorded.get(row.id) or _from_columns(
            row.follow_state, row.followed_at, row.blocked_at, until
        )
        if history:
            grouped[row.district or NO_DISTRICT].append(history)
    return grouped


def _from_columns(
    state: str, followed_at: datetime | None, blocked_at: datetime | None, until: datetime
) -> list[Event]:
    """A resident from before events were recorded: what the columns still say."""
    history: list[Event] = []
    if followed_at is not None and as_utc(followed_at) < until:
        history.append((as_utc(followed_at), FriendEventKind.follow))
    if state == FollowState.blocked and blocked_at is not None and as_utc(blocked_at) < until:
        history.append((as_utc(blocked_at), FriendEventKind.unfollow))
    return history


def end_of(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)


def series(
    session: Session, start: date, end: date, tz: tzinfo
) -> tuple[list[FriendDay], dict[str, list[FriendDay]]]:
    """The daily series overall and per district, from `start` to `end` (local days).

    Computed in SQL (`deltas`): window functions tell each event's effect, GROUP BY sums
    them per district and hour, so 100k residents cost one pass, not a Python loop each.
    `replayed_series` is the same figures by replaying histories, kept as its reference.
    """
    return series_from(deltas(session, end_of(end, tz), tz), start, end)


def series_from(
    per_district: Mapping[str, DayChanges], start: date, end: date
) -> tuple[list[FriendDay], dict[str, list[FriendDay]]]:
    """The daily series overall and per district from per-district changes per day (the
    SQL's, or a stored tally of them: `kpis.friend_figures`)."""
    overall = total(per_district.values())
    by_district = {
        district: _from_deltas(d, start, end) for district, d in sorted(per_district.items())
    }
    return _from_deltas(overall, start, end), by_district


def total(parts: Iterable[DayChanges]) -> DayChanges:
    """The districts' changes added up, day by day."""
    out = DayChanges()
    for d in parts:
        for mine, into in zip(
            (d.friends, d.new, d.refollows, d.blocks),
            (out.friends, out.new, out.refollows, out.blocks),
            strict=True,
        ):
            for day, n in mine.items():
                into[day] += n
    return out


def replayed_series(
    session: Session, start: date, end: date, tz: tzinfo
) -> tuple[list[FriendDay], dict[str, list[FriendDay]]]:
    """`series` by replaying every resident's history in Python (the reference)."""
    grouped = histories_by_district(session, end_of(end, tz))
    overall = daily_series((h for hs in grouped.values() for h in hs), start, end, tz)
    by_district = {
        district: daily_series(histories, start, end, tz)
        for district, histories in sorted(grouped.items())
    }
    return overall, by_district


def _from_deltas(d: DayChanges, start: date, end: date) -> list[FriendDay]:
    """The days from `start` to `end` of per-day changes (the replay's and the SQL's)."""
    friends = sum(n for day, n in d.friends.items() if day < start)
    out = []
    for day in days(start, end):
        friends += d.friends.get(day, 0)
        out.append(
            FriendDay(
                day,
                friends=friends,
                new_friends=d.new.get(day, 0),
                refollows=d.refollows.get(day, 0),
                blocks=d.blocks.get(day, 0),
            )
        )
    return out


def _hour(session: Session, column: sa.ColumnElement[datetime]) -> sa.ColumnElement[str]:
    """The UTC hour an instant falls in, as "YYYY-MM-DD HH" (local days are whole hours
    of UTC in every zone with whole-hour offsets, Asia/Tokyo among them)."""
    # Literal SQL, not bound parameters: PostgreSQL accepts a GROUP BY of this expression
    # only when it reads exactly as in the select list, and each bound parameter differs.
    if session.get_bind().dialect.name == "postgresql":
        utc = sa.func.timezone(sa.literal_column("'UTC'"), column)
        return sa.func.to_char(utc, sa.literal_column("'YYYY-MM-DD HH24'"))
    return sa.func.strftime(sa.literal_column("'%Y-%m-%d %H'"), column)


@lru_cache(maxsize=65_536)
def _local_day(hour: str, tz: tzinfo) -> date:
    """The local day of a "YYYY-MM-DD HH" UTC hour (cached: a year has 8,760 hours, and
    every district's rows share them)."""
    at = datetime(int(hour[:4]), int(hour[5:7]), int(hour[8:10]), int(hour[11:13]), tzinfo=UTC)
    return at.astimezone(tz).date()


def deltas(session: Session, until: datetime, tz: tzinfo) -> dict[str, DayChanges]:
    """Per district (the resident's now), per local day: the change in friends, first
    follows, re-follows and blocks, from events before `until` and, for residents without
    events, from their columns: the same rules as `daily_series` over `_from_columns`."""
    events = table_of(FriendEvent)
    residents = table_of(Resident)
    is_follow = events.c.kind == FriendEventKind.follow
    # Same order as the replay: by time, a block before a follow at the same instant.
    order = [events.c.occurred_at, sa.case((is_follow, 1), else_=0)]
    who = events.c.resident_id
    ordered = (
        sa.select(
            events.c.resident_id,
            events.c.occurred_at,
            is_follow.label("follow"),
            sa.func.lag(events.c.kind).over(partition_by=who, order_by=order).label("before"),
            sa.func.sum(sa.case((is_follow, 1), else_=0))
            .over(partition_by=who, order_by=order, rows=(None, 0))
            .label("nth_follow"),
        )
        .where(events.c.occurred_at < until)
        .subquery()
    )
    was_following = sa.func.coalesce(ordered.c.before, "") == FriendEventKind.follow
    district = sa.func.coalesce(residents.c.district, NO_DISTRICT)
    hour = _hour(session, ordered.c.occurred_at)

    def total(condition: sa.ColumnElement[bool], value: int = 1) -> sa.ColumnElement[int]:
        return sa.func.sum(sa.case((condition, value), else_=0))

    out: dict[str, DayChanges] = defaultdict(DayChanges)
    connection = session.connection()
    for name, at, friends_up, friends_down, new, refollows, blocks in connection.execute(
        sa.select(
            district,
            hour,
            total(sa.and_(ordered.c.follow, ~was_following)),
            total(sa.and_(~ordered.c.follow, was_following)),
            total(sa.and_(ordered.c.follow, ordered.c.nth_follow == 1)),
            total(sa.and_(ordered.c.follow, ordered.c.nth_follow > 1)),
            total(~ordered.c.follow),
        )
        .select_from(ordered.join(residents, residents.c.id == ordered.c.resident_id))
        .group_by(district, hour)
    ):
        d, day = out[name], _local_day(at, tz)
        d.friends[day] += int(friends_up) - int(friends_down)
        d.new[day] += int(new)
        d.refollows[day] += int(refollows)
        d.blocks[day] += int(blocks)
    # Residents from before events were recorded: a follow at followed_at, and a block at
    # blocked_at if blocked now (ending the friendship only if the follow came first).
    no_events = ~sa.exists().where(events.c.resident_id == residents.c.id)
    followed = residents.c.followed_at
    follows = sa.select(district, _hour(session, followed), sa.func.count()).where(
        followed.is_not(None), followed < until, no_events
    )
    for name, at, n in connection.execute(follows.group_by(district, _hour(session, followed))):
        d, day = out[name], _local_day(at, tz)
        d.friends[day] += int(n)
        d.new[day] += int(n)
    blocked_at = residents.c.blocked_at
    ended = sa.and_(followed.is_not(None), followed < blocked_at)
    blocks_q = sa.select(
        district, _hour(session, blocked_at), sa.func.count(), total(ended)
    ).where(
        residents.c.follow_state == FollowState.blocked,
        blocked_at.is_not(None),
        blocked_at < until,
        no_events,
    )
    for name, at, n, ending in connection.execute(
        blocks_q.group_by(district, _hour(session, blocked_at))
    ):
        d, day = out[name], _local_day(at, tz)
        d.blocks[day] += int(n)
        d.friends[day] -= int(ending)
    return dict(out)


def monthly(series_: Sequence[FriendDay]) -> Mapping[str, FriendDay]:
    """Month ("YYYY-MM") -> friends at the month's last day and the month's sums."""
    out: dict[str, FriendDay] = {}
    for day in series_:
        key = f"{day.day.year}-{day.day.month:02d}"
        month = out.setdefault(key, FriendDay(day.day))
        month.day = day.day
        month.friends = day.friends
        month.new_friends += day.new_friends
        month.refollows += day.refollows
        month.blocks += day.blocks
    return out


@dataclass(frozen=True, slots=True)
class FriendMonth:
    month: str  # "YYYY-MM", local
    friends: int  # following at the month's end (or now, for the running month)
    follows: int  # follows in the month, first ones and re-follows alike
    blocks: int


def recent_months(now: datetime, tz: tzinfo, count: int = 12) -> list[tuple[str, datetime]]:
    """The last `count` local months up to now's, as ("YYYY-MM", first instant in UTC)."""
    today = as_utc(now).astimezone(tz).date()
    year, month = today.year, today.month
    out = []
    for _ in range(count):
        start = datetime.combine(date(year, month, 1), time(0), tz).astimezone(UTC)
        out.append((f"{year}-{month:02d}", start))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def months_from(
    per_district: Mapping[str, DayChanges], now: datetime, tz: tzinfo, count: int = 12
) -> list[FriendMonth]:
    """Friends at each month's end (now, for the running month), the month's follows
    (first ones and re-follows alike) and blocks, for the last `count` local months, from
    the same per-day changes as `series`."""
    d = total(per_district.values())
    months = [month for month, _ in recent_months(now, tz, count)]
    follows = _by_month(d.new, d.refollows)
    blocks = _by_month(d.blocks)
    change = _by_month(d.friends)
    friends = sum(n for month, n in change.items() if month < months[0])
    out = []
    for month in months:
        friends += change.get(month, 0)
        out.append(FriendMonth(month, max(friends, 0), follows.get(month, 0), blocks.get(month, 0)))
    return out


def _by_month(*parts: Mapping[date, int]) -> dict[str, int]:
    """Per-day figures summed per local month ("YYYY-MM")."""
    out: dict[str, int] = defaultdict(int)
    for part in parts:
        for day, n in part.items():
            out[f"{day:%Y-%m}"] += n
    return out
