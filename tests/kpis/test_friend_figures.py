"""The stored tally of friends figures (`kpis.friend_figures`): the same figures as the
live SQL, used only while recent, and the pages say when it was made."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from fastapi.testclient import TestClient
from freezegun import freeze_time
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.kpis import friend_figures, friends
from broadcaster.kpis.models import FriendEvent, FriendFigure
from broadcaster.settings import Settings
from segments.residents import Resident
from tests.conftest import T0
from tests.console.signing import sign_in
from tests.kpis.test_series_sql import random_town

NOW = T0 + timedelta(days=400)


def test_the_tally_gives_the_live_figures(engine: Engine, settings: Settings) -> None:
    with Session(engine) as session:
        random_town(session)
        assert friend_figures.tally(session, NOW, settings.tz) > 0
        session.commit()
        figures = friend_figures.current(session, NOW + timedelta(minutes=5), settings.tz)
        assert figures.tallied and figures.as_of == NOW
        start = (T0 - timedelta(days=10)).astimezone(settings.tz).date()
        ranges = ((start, start + timedelta(days=120)), (date(2027, 1, 1), date(2027, 1, 31)))
        for first, last in ranges:
            assert friends.series_from(figures.per_district, first, last) == friends.series(
                session, first, last, settings.tz
            )


def test_a_tally_older_than_its_age_limit_is_not_used(
    engine: Engine, settings: Settings, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(followed_at=T0)
    with Session(engine) as session:
        friend_figures.tally(session, NOW, settings.tz)
        session.commit()
        session.add(
            FriendEvent(resident_id=resident.id, kind="unfollow",
                        occurred_at=NOW + timedelta(minutes=1), recorded_at=NOW)
        )
        session.commit()
        day = (NOW + timedelta(minutes=1)).astimezone(settings.tz).date()

        def blocks(at: object) -> int:
            figures = friend_figures.current(session, at, settings.tz)  # type: ignore[arg-type]
            return friends.series_from(figures.per_district, day, day)[0][0].blocks

        assert blocks(NOW + friend_figures.MAX_AGE) == 0  # the tally, made before the block
        assert blocks(NOW + friend_figures.MAX_AGE + timedelta(seconds=1)) == 1  # computed
        # A second tally replaces the first one's rows, never adds to them.
        friend_figures.tally(session, NOW + timedelta(minutes=2), settings.tz)
        session.commit()
        assert blocks(NOW + timedelta(minutes=3)) == 1
        rows = session.exec(select(FriendFigure)).all()
        assert sum(r.blocks for r in rows) == 1


def test_the_pages_say_when_the_figures_were_tallied(
    app_client: TestClient, staff: dict[str, str], engine: Engine, settings: Settings,
    make_resident: Callable[..., Resident],
) -> None:
    make_resident()
    with freeze_time("2026-06-01 10:00:00+09:00") as clock:
        with Session(engine) as session:
            friend_figures.tally(session, clock().astimezone(settings.tz), settings.tz)
            session.commit()
        clock.tick(timedelta(minutes=7))
        sign_in(app_client, "kankyo")
        residents = app_client.get("/console/residents").text
        assert "06月01日 10:00 時点の集計です（10分ごとに更新）" in residents
        kpis = app_client.get("/console/kpis").text
        assert "友だち数は 2026-06-01 10:00 時点の集計です" in kpis
