"""Importing calendars: replacing a zone's future days, the diff, refusals that change nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcaster.audit import AuditEntry
from broadcaster.garbage.ical import CalendarError
from broadcaster.garbage.models import CalendarImport, CollectionDay
from tests.conftest import auth
from tests.garbage.conftest import Importer, allday, vcal

NOW = datetime(2026, 4, 1, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo


def soon(days: int) -> str:
    return f"{date.today() + timedelta(days=days):%Y%m%d}"


def stored(engine: Engine, zone: str = "A") -> dict[date, list[str]]:
    with Session(engine) as session:
        rows = session.exec(
            select(CollectionDay)
            .where(CollectionDay.zone == zone)
            .order_by(col(CollectionDay.date))
        )
        return {row.date: row.kinds for row in rows}


FIRST = vcal(
    allday("b1", "20260406", "燃やすごみ"),
    allday("b2", "20260409", "燃やすごみ"),
    allday("r1", "20260408", "資源ごみ"),
    allday("p1", "20260415", "古紙"),
)


def test_reimport_replaces_future_days_and_reports_added_removed_moved_changed(
    engine: Engine, load: Importer
) -> None:
    load(FIRST, NOW)
    second = vcal(
        allday("b1", "20260406", "燃やすごみ"),
        allday("b2", "20260410", "燃やすごみ"),  # moved 9 -> 10
        allday("r1", "20260408", "びん類"),  # kind changed
        allday("n1", "20260420", "粗大ごみ"),  # added far away
    )  # 古紙 on the 15th removed
    result = load(second, NOW)
    diff = result.diffs["A"]
    assert diff.moved == [("burnable", date(2026, 4, 9), date(2026, 4, 10))]
    assert diff.changed == [(date(2026, 4, 8), ["recyclable"], ["bottles"])]
    assert diff.added == [(date(2026, 4, 20), ["oversized"])]
    assert diff.removed == [(date(2026, 4, 15), ["paper"])]
    assert stored(engine) == {
        date(2026, 4, 6): ["burnable"],
        date(2026, 4, 8): ["bottles"],
        date(2026, 4, 10): ["burnable"],
        date(2026, 4, 20): ["oversized"],
    }


def test_past_days_are_kept_and_other_zones_untouched(engine: Engine, load: Importer) -> None:
    load(FIRST, NOW)
    load(vcal(allday("x", "20260407", "燃やすごみ")), NOW, zone="B")
    later = datetime(2026, 4, 10, 3, 0, tzinfo=UTC)
    load(vcal(allday("z", "20260420", "古紙")), later)
    assert stored(engine) == {
        date(2026, 4, 6): ["burnable"],
        date(2026, 4, 8): ["recyclable"],
        date(2026, 4, 9): ["burnable"],
        date(2026, 4, 20): ["paper"],
    }
    assert stored(engine, "B") == {date(2026, 4, 7): ["burnable"]}


def test_dry_run_reports_without_writing(engine: Engine, load: Importer) -> None:
    result = load(FIRST, NOW, dry_run=True)
    assert result.days == 4 and len(result.diffs["A"].added) == 4
    assert stored(engine) == {}


@pytest.mark.parametrize(
    "bad", [b"\x00\x01garbage bytes", vcal(), vcal(allday("e", "20260406", "収集なし"))]
)
def test_refused_file_changes_nothing(engine: Engine, load: Importer, bad: bytes) -> None:
    load(FIRST, NOW)
    before = stored(engine)
    with pytest.raises(CalendarError):
        load(bad, NOW)
    assert stored(engine) == before


def test_unmapped_summaries_are_imported_and_listed(engine: Engine, load: Importer) -> None:
    result = load(vcal(allday("u", "20260406", "燃やすごみ・せん定枝")), NOW)
    assert result.unmapped == [{"zone": "A", "summary": "せん定枝", "dates": ["2026-04-06"]}]
    with Session(engine) as session:
        row = session.exec(select(CollectionDay)).one()
    assert (row.kinds, row.unmapped) == (["burnable"], ["せん定枝"])


def test_api_upload_by_the_garbage_department_with_audit(
    app_client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    # The API reads the real clock: a file of days from next week on.
    files = {
        "file": (
            "a.ics",
            vcal(allday("b", soon(7), "燃やすごみ", "RRULE:FREQ=WEEKLY;COUNT=3")),
            "text/calendar",
        )
    }
    response = app_client.post("/api/v1/calendars/A", files=files, headers=auth(tokens["環境課"]))
    assert response.status_code == 200, response.text
    assert response.json()["zones"] == ["A"]
    assert len(response.json()["changes"]["A"]["added"]) == 3
    with Session(engine) as session:
        assert session.exec(
            select(AuditEntry).where(AuditEntry.action == "calendar.import")
        ).first()


def test_api_refuses_other_departments_and_bad_files(
    app_client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    files = {"file": ("a.ics", FIRST, "text/calendar")}
    assert (
        app_client.post(
            "/api/v1/calendars/A", files=files, headers=auth(tokens["子育て支援課"])
        ).status_code
        == 403
    )
    assert (
        app_client.post(
            "/api/v1/calendars/Z", files=files, headers=auth(tokens["情報政策課"])
        ).status_code
        == 404
    )
    bad = {"file": ("a.ics", b"hello", "text/calendar")}
    response = app_client.post("/api/v1/calendars/A", files=bad, headers=auth(tokens["情報政策課"]))
    assert response.status_code == 422
    assert "not an iCal file" in response.json()["errors"][0]["message"]
    with Session(engine) as session:
        assert session.exec(select(CollectionDay)).first() is None
        refusal = session.exec(select(CalendarImport)).one()
    assert not refusal.ok and "not an iCal file" in (refusal.error or "")


def test_api_refusal_names_each_bad_series_in_japanese_and_changes_no_day(
    app_client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    # A VEVENT without DTSTART and one repeating hourly: with ?strict the file is refused,
    # each series named by its line, UID and a Japanese reason from the catalog.
    data = vcal(
        allday("ok", soon(7), "燃やすごみ"),
        "UID:nodate\nSUMMARY:資源ごみ",
        allday("hourly", soon(8), "古紙", "RRULE:FREQ=HOURLY;COUNT=3"),
    )
    files = {"file": ("a.ics", data, "text/calendar")}
    headers = {**auth(tokens["環境課"]), "Accept-Language": "ja"}
    response = app_client.post("/api/v1/calendars/A?strict=true", files=files, headers=headers)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "calendar.refused"
    assert body["detail"] == "カレンダーを取り込めません。"
    messages = {item["path"]: item["message"] for item in body["errors"]}
    assert messages["file"] == (
        "取り込めない予定が 2 件あるため、ファイル全体を取り込みませんでした（厳密モード）。"
    )
    assert messages["file.line[9]"] == (
        "9 行目の予定「資源ごみ」（UID nodate）には日付（DTSTART）がありません。"
        "この予定は取り込んでいません。"
    )
    hourly = messages["file.line[13]"]
    assert hourly.startswith("13 行目の予定「古紙」（UID hourly）は 1 日に何度も")
    english = app_client.post(
        "/api/v1/calendars/A?strict=true",
        files=files,
        headers={**headers, "Accept-Language": "en"},
    ).json()
    assert english["errors"][1]["message"] == (
        "line 9: 資源ごみ (UID nodate): no DTSTART: the event has no date; not imported"
    )
    with Session(engine) as session:
        assert session.exec(select(CollectionDay)).first() is None
        refusals = session.exec(select(CalendarImport)).all()
    assert [row.ok for row in refusals] == [False, False]  # on record, nothing imported


def test_a_file_that_is_not_text_is_refused_in_japanese(
    app_client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    files = {"file": ("a.ics", b"\xff\xfe\x00garbage", "text/calendar")}
    headers = {**auth(tokens["環境課"]), "Accept-Language": "ja"}
    response = app_client.post("/api/v1/calendars/A?dry_run=true", files=files, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {
            "path": "file",
            "message": "ファイルが UTF-8 の文字データではないため、"
            "iCal ファイルとして読み取れません。",
        }
    ]
    with Session(engine) as session:
        assert session.exec(select(CollectionDay)).first() is None
        assert session.exec(select(CalendarImport)).first() is None
