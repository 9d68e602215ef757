"""What a rule reaches right now: a count, its spread, and a few masked examples.

Staff check a segment before sending with this; it runs the same `audience_filter` as the
dispatcher, so the count is what would be sent. Samples show masked LINE ids only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, col

from segments.audience import audience_filter
from segments.residents import FollowState, Resident, mask_user_id
from segments.rules import Rule

SAMPLE_SIZE = 5
UNSET = "(未設定)"


@dataclass(frozen=True)
class SampleResident:
    user: str  # masked LINE user id
    district: str | None
    language: str
    age: int | None


@dataclass(frozen=True)
class Preview:
    count: int
    by_district: dict[str, int] = field(default_factory=dict)
    by_language: dict[str, int] = field(default_factory=dict)
    samples: list[SampleResident] = field(default_factory=list)


def _age(birth_date: dt.date | None, birth_year: int | None, on: dt.date) -> int | None:
    if birth_date is not None:
        return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    return None if birth_year is None else on.year - birth_year


def preview(
    session: Session,
    rule: Rule | None,
    *,
    on: dt.date,
    category: str | None = None,
    sample_size: int = SAMPLE_SIZE,
) -> Preview:
    """Followers matching `rule` at `on` (minus opt-outs of `category` when given)."""
    where = audience_filter(rule, on=on, category=category)
    district_label = sa.func.coalesce(col(Resident.district), UNSET)
    by_district = {
        str(name): int(n)
        for name, n in session.execute(
            sa.select(district_label, sa.func.count()).where(where).group_by(district_label)
        )
    }
    by_language = {
        str(name): int(n)
        for name, n in session.execute(
            sa.select(col(Resident.language), sa.func.count())
            .where(where)
            .group_by(col(Resident.language))
        )
    }
    rows = session.execute(
        sa.select(
            col(Resident.line_user_id),
            col(Resident.district),
            col(Resident.language),
            col(Resident.birth_date),
            col(Resident.birth_year),
        )
        .where(where)
        .order_by(col(Resident.id))
        .limit(sample_size)
    )
    samples = [
        SampleResident(mask_user_id(user), district, language, _age(born, year, on))
        for user, district, language, born, year in rows
    ]
    return Preview(sum(by_district.values()), by_district, by_language, samples)


def count_audience(
    session: Session, rule: Rule | None, *, on: dt.date, category: str | None = None
) -> int:
    """Only the number (what the benchmark times and broadcast creation shows)."""
    where = audience_filter(rule, on=on, category=category)
    return int(
        session.execute(sa.select(sa.func.count()).select_from(Resident).where(where)).scalar_one()
    )


@dataclass(frozen=True)
class ResidentStats:
    following: int
    blocked: int
    by_district: dict[str, int]
    by_language: dict[str, int]


def resident_stats(session: Session) -> ResidentStats:
    """Counts for staff: following and blocked, and followers by district and language."""
    follow_state = col(Resident.follow_state)
    states: dict[str, int] = {
        state: n
        for state, n in session.execute(
            sa.select(follow_state, sa.func.count()).group_by(follow_state)
        )
    }
    following = follow_state == FollowState.following
    district_label = sa.func.coalesce(col(Resident.district), UNSET)
    by_district: dict[str, int] = {
        name: n
        for name, n in session.execute(
            sa.select(district_label, sa.func.count()).where(following).group_by(district_label)
        )
    }
    language = col(Resident.language)
    by_language: dict[str, int] = {
        name: n
        for name, n in session.execute(
            sa.select(language, sa.func.count()).where(following).group_by(language)
        )
    }
    return ResidentStats(
        following=int(states.get(FollowState.following, 0)),
        blocked=int(states.get(FollowState.blocked, 0)),
        by_district={str(k): int(v) for k, v in by_district.items()},
        by_language={str(k): int(v) for k, v in by_language.items()},
    )
