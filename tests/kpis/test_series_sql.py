"""The friends series in SQL (`friends.series`) gives the replay's figures
(`friends.replayed_series`) on a randomised town: late and out-of-order events, same-instant
block and follow, residents known only from their columns, residents without a district."""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.kpis import friends
from broadcaster.kpis.models import FriendEvent
from broadcaster.settings import Settings
from segments.residents import Resident
from tests.conftest import T0, line_user_id


def random_town(session: Session, seed: int = 7) -> None:
    """300 residents with random histories (committed)."""
    rng = random.Random(seed)
    for n in range(300):
        followed = T0 + timedelta(hours=rng.randrange(-2000, 3000))
        blocked = followed + timedelta(hours=rng.randrange(-50, 800))
        state = rng.choice(["following", "blocked"])
        resident = Resident(
            line_user_id=line_user_id(n + 1),
            follow_state=state,
            followed_at=followed if rng.random() > 0.05 else None,
            blocked_at=blocked if state == "blocked" and rng.random() > 0.1 else None,
            district=rng.choice(["中央", "北", "山間", None]),
            created_at=T0,
            updated_at=T0,
        )
        session.add(resident)
        session.flush()
        if rng.random() < 0.6:  # the rest are known only from their columns
            at = followed
            for _ in range(rng.randrange(1, 6)):
                kind = rng.choice(["follow", "follow", "unfollow"])
                session.add(
                    FriendEvent(
                        resident_id=resident.id,
                        kind=kind,
                        occurred_at=at,
                        recorded_at=T0,
                    )
                )
                # Sometimes the same instant (block then follow), sometimes earlier.
                at += timedelta(hours=rng.choice([0, 5, 30, 200, -40]))
    session.commit()


def test_sql_series_equals_the_replay(engine: Engine, settings: Settings) -> None:
    with Session(engine) as session:
        random_town(session)
        start = (T0 - timedelta(days=10)).astimezone(settings.tz).date()
        end = start + timedelta(days=120)
        for first, last in ((start, end), (date(2027, 1, 1), date(2027, 1, 31))):
            assert friends.series(session, first, last, settings.tz) == friends.replayed_series(
                session, first, last, settings.tz
            )
