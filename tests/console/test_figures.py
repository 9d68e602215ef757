"""Jobs 9 and 10: /console/residents and /console/kpis, counts by GROUP BY with small
counts suppressed, charts drawn on the server, and CSV downloads with the session."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.kpis import friend_figures
from broadcaster.kpis.friends import months_from
from broadcaster.kpis.models import FriendEvent
from broadcaster.settings import Settings
from segments.residents import Resident
from tests.clock import freeze_time
from tests.conftest import T0, auth
from tests.console.signing import sign_in


def _cells(page: str, name: str) -> str:
    """The count in the row headed `name` of the residents page's tables."""
    start = page.index(f'<th scope="row">{name}</th>')
    cell = page[start:].split('<td class="num">', 1)[1]
    return cell.split("</td>", 1)[0]


def test_residents_by_district_zone_language_and_interest_small_counts_suppressed(
    app_client: TestClient,
    staff: dict[str, str],
    make_resident: Callable[..., Resident],
    settings: Settings,
) -> None:
    for _ in range(25):
        make_resident(district="北", garbage_zone="B", language="vi", interests=["防災"])
    for _ in range(3):
        make_resident(district="山間", language="easy-ja", interests=["観光"])
    make_resident(district="北", follow_state="blocked")
    sign_in(app_client, "kosodate")
    page = app_client.get("/console/residents")
    assert page.status_code == 200
    text = page.text
    assert 'id="following">28<' in text and 'id="blocked">&lt; 20<' in text
    assert _cells(text, "北") == "25"  # the blocked resident is not counted
    assert _cells(text, "山間") == "&lt; 20"
    assert _cells(text, "Tiếng Việt") == "25"
    assert _cells(text, "やさしい日本語") == "&lt; 20"
    assert _cells(text, "防災") == "25" and _cells(text, "観光") == "&lt; 20"
    assert "<svg" in text and 'aria-label="直近12か月の月末の友だち数"' in text


def test_monthly_counts_come_from_events_and_older_residents(
    engine: Engine, make_resident: Callable[..., Resident], settings: Settings
) -> None:
    now = T0 + timedelta(days=70)
    old = make_resident(followed_at=T0 - timedelta(days=400))
    recent = make_resident(followed_at=T0)
    gone = make_resident(followed_at=T0, follow_state="blocked", blocked_at=T0 + timedelta(days=40))
    with Session(engine) as session:
        # `old` has events: a block and a re-follow within the window.
        for kind, days in (("unfollow", 35), ("follow", 65)):
            session.add(
                FriendEvent(
                    resident_id=old.id,
                    kind=kind,
                    occurred_at=T0 + timedelta(days=days),
                    recorded_at=now,
                )
            )
        session.commit()
        figures = friend_figures.current(session, now, settings.tz)
        months = months_from(figures.per_district, now, settings.tz, count=4)
    assert recent.id and gone.id
    assert [m.month for m in months][-1] == now.astimezone(settings.tz).strftime("%Y-%m")
    assert sum(m.follows for m in months) == 3  # recent, gone (from columns), old's re-follow
    assert sum(m.blocks for m in months) == 2
    assert months[-1].friends == 2  # old (re-followed) and recent


def test_the_kpi_page_draws_charts_and_links_the_consoles_own_csv(
    app_client: TestClient, staff: dict[str, str], make_resident: Callable[..., Resident]
) -> None:
    make_resident()
    sign_in(app_client, "kankyo")
    with freeze_time("2026-06-01 10:00:00+09:00"):
        page = app_client.get("/console/kpis")
        assert page.status_code == 200
        assert page.text.count("<svg") == 5
        for title in (
            "友だち数（月末）",
            "課別の配信数",
            "満足度",
            "ブロック（月別）",
            "メッセージ通数",
        ):
            assert title in page.text
        assert 'href="/console/kpis/tables/kpis.csv?fiscal_year=2026"' in page.text
        assert "/api/v1/" not in page.text
        csv = app_client.get("/console/kpis/tables/friends_by_month.csv?fiscal_year=2026")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.content.startswith("\ufeffmonth,friends".encode())
        assert 'filename="fy2026_friends_by_month.csv"' in csv.headers["content-disposition"]
        report = app_client.get("/console/kpis/report?fiscal_year=2026")
        assert report.status_code == 200 and "/console/kpis/tables/" in report.text


def test_the_consoles_csv_is_the_apis_csv(
    app_client: TestClient,
    staff: dict[str, str],
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
) -> None:
    for _ in range(3):
        make_resident()
    sign_in(app_client, "kosodate")
    with freeze_time("2026-06-01 10:00:00+09:00"):
        for table in ("kpis", "friends_by_district", "quota_by_month"):
            mine = app_client.get(f"/console/kpis/tables/{table}.csv?fiscal_year=2026").content
            api = app_client.get(
                f"/api/v1/kpis/report/tables/{table}.csv?fiscal_year=2026",
                headers=auth(tokens["子育て支援課"]),
            ).content
            assert mine == api
    assert app_client.get("/console/kpis/tables/nope.csv").status_code == 404


def test_signed_out_csv_is_a_redirect_to_sign_in(app_client: TestClient) -> None:
    answer = app_client.get("/console/kpis/tables/kpis.csv", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console?next=")
