"""5374 data sets (area_days.csv, center.csv, remarks.csv): the cell grammar, year-end breaks,
areas to zones, and the same report and replace as an iCal import."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from broadcaster.cli import app
from broadcaster.clock import utcnow
from broadcaster.garbage.data5374 import cell_dates
from broadcaster.garbage.days import CalendarError
from broadcaster.garbage.importer import ImportResult, import_5374
from broadcaster.garbage.models import CollectionDay
from broadcaster.garbage.reminders import schedule_reminders
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from tests.clock import freeze_time
from tests.conftest import REPO, ResidentFactory, auth

# 2026-11-30 12:00 JST: the window starts on 12月1日.
NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)

AREA_DAYS = """地名,センター,燃やすごみ,燃やさないごみ,びん・缶,資源（古紙）,粗大ごみ,小型家電
A地区,東部センター,月 木,水2,火2 金4:4 6 8 10 12 2,土1 土3,20261215 20270119 *1,
B地区,西部センター,火 金,水4,月1 月3,土2,*2 20261216,金5
"""
CENTER = """名称,休止開始日,休止終了日
東部センター,2026/12/29,2027/01/03
西部センター,2026/12/30,2027/01/04
"""
REMARKS = """ID,注意事項
1,事前申込制（電話で予約）
2,一部地域（3丁目）は翌日です
"""


def data_set(area_days: str = AREA_DAYS, **more: str) -> dict[str, bytes]:
    files = {"area_days.csv": area_days.encode(), "center.csv": CENTER.encode(),
             "remarks.csv": REMARKS.encode()}
    files.update({f"{name}.csv": text.encode() for name, text in more.items()})
    return files


def run(engine: Engine, settings: Settings, files: dict[str, bytes], **kwargs: object
        ) -> ImportResult:
    with Session(engine, expire_on_commit=False) as session:
        result = import_5374(session, files, settings=settings, now=NOW, actor="test",
                             source="5374:test", **kwargs)  # type: ignore[arg-type]
        session.commit()
    return result


def days_of(engine: Engine, zone: str) -> dict[date, CollectionDay]:
    with Session(engine) as session:
        rows = session.exec(select(CollectionDay).where(CollectionDay.zone == zone)).all()
    return {row.date: row for row in rows}


DEC = (date(2026, 12, 1), date(2027, 1, 1))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("月 木", [date(2026, 12, d) for d in (3, 7, 10, 14, 17, 21, 24, 28, 31)]),
        ("水2", [date(2026, 12, 9)]),
        ("火2 金4:4 6 8 10 12 2", [date(2026, 12, 8), date(2026, 12, 25)]),
        ("火2 金4:1 3 5", []),  # not in December
        ("20261215 20270119", [date(2026, 12, 15)]),  # January is outside the window
        ("金5", []),  # December 2026 has four Fridays… and a fifth? No: 4, 11, 18, 25
        ("木5", [date(2026, 12, 31)]),
        ("", []),
        ("　月　", [date(2026, 12, d) for d in (7, 14, 21, 28)]),  # full-width spaces (NFKC'd)
    ],
)
def test_cell_grammar(cell: str, expected: list[date]) -> None:
    import unicodedata

    assert cell_dates(unicodedata.normalize("NFKC", cell), *DEC, {})[0] == expected


def test_cell_notes_come_from_remarks_and_bad_tokens_are_named() -> None:
    assert cell_dates("水2 *1", *DEC, {"1": "要予約"}) == ([date(2026, 12, 9)], ["要予約"])
    with pytest.raises(ValueError, match="'月9'"):
        cell_dates("月9", *DEC, {})
    with pytest.raises(ValueError, match="20260931 is not a date"):
        cell_dates("20260931", *DEC, {})
    with pytest.raises(ValueError, match="remark \\*3"):
        cell_dates("月 *3", *DEC, {"1": "x"})
    with pytest.raises(ValueError, match="1-12"):
        cell_dates("月:13", *DEC, {})


def test_a_data_set_imports_with_breaks_notes_and_separate_kinds(
    engine: Engine, settings: Settings
) -> None:
    result = run(engine, settings, data_set())
    assert result.zones == ["A", "B"] and result.skipped == []
    a = days_of(engine, "A")
    # 月 木 every week, but nothing in 東部センター's year-end break (12/29-1/3).
    assert date(2026, 12, 28) in a and date(2026, 12, 31) not in a
    assert date(2027, 1, 1) not in a and a[date(2027, 1, 4)].kinds == ["burnable"]
    # 「びん・缶」 is both kinds; the bracketed 「（古紙）」 names a kind too.
    assert a[date(2026, 12, 8)].kinds == ["bottles", "cans"]
    assert a[date(2026, 12, 5)].kinds == ["recyclable", "paper"]
    # An explicit date with its remark as a note on the day.
    assert a[date(2026, 12, 15)].kinds == ["oversized"]
    assert a[date(2026, 12, 15)].notes == ["事前申込制（電話で予約）"]
    # 「小型家電」 is no configured kind: imported as written and reported.
    b = days_of(engine, "B")
    assert b[date(2027, 1, 29)].unmapped == ["小型家電"]
    assert {(item["zone"], item["summary"]) for item in result.unmapped} == {("B", "小型家電")}
    assert date(2027, 1, 4) not in b  # 西部センター's break ends on the 4th


def test_areas_map_to_zones_by_a_column(engine: Engine, settings: Settings) -> None:
    area_days = "地名,センター,収集区域,燃やすごみ\n本町1丁目,,C,月\n本町2丁目,,D,火\n"
    result = run(engine, settings, data_set(area_days), zone_column="収集区域")
    assert result.zones == ["C", "D"]
    assert all(day.weekday() == 1 for day in days_of(engine, "D"))


@pytest.mark.parametrize(
    ("area_days", "kwargs", "message"),
    [
        ("地名,センター,燃やすごみ\n本町,,月\n", {}, "name no known zone, e.g. '本町'"),
        ("地名,センター,燃やすごみ\nA地区,,月\nA,,火\n", {}, "both zone A"),
        ("地名,センター,燃やすごみ\nA地区,,月\n", {"zone_column": "区域"}, "no column '区域'"),
        ("地名,センター,燃やすごみ\nA地区,,月9\n", {"strict": True}, "--strict"),
        ("燃やすごみ\n", {}, "expected a header"),
    ],
)
def test_unusable_data_sets_are_refused_and_write_nothing(
    engine: Engine, settings: Settings, area_days: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(CalendarError, match=message):
        run(engine, settings, data_set(area_days), **kwargs)
    assert days_of(engine, "A") == {}


def test_a_bad_center_date_is_refused(engine: Engine, settings: Settings) -> None:
    files = data_set()
    center = "名称,休止開始日,休止終了日\n東部センター,2026/12/29,2027/01/32\n"
    files["center.csv"] = center.encode()
    with pytest.raises(CalendarError, match=r"center\.csv line 2"):
        run(engine, settings, files)


def test_a_bad_cell_is_left_out_and_reported(engine: Engine, settings: Settings) -> None:
    area_days = "地名,センター,燃やすごみ,資源ごみ\nA地区,,月 木,土9\n"
    result = run(engine, settings, data_set(area_days))
    assert result.skipped == [{"uid": "A地区/資源ごみ", "summary": "資源ごみ",
                               "reason": "cannot read '土9' (expected 月, 水2, 20250331 or *1)"}]
    assert {tuple(day.kinds) for day in days_of(engine, "A").values()} == {("burnable",)}


def test_shift_jis_files_are_read(engine: Engine, settings: Settings) -> None:
    files = {"area_days.csv": "地名,センター,燃やすごみ\nA地区,,月\n".encode("cp932")}
    assert run(engine, settings, files).zones == ["A"]


def test_dry_run_diff_then_one_transaction_replace(engine: Engine, settings: Settings) -> None:
    run(engine, settings, data_set())
    changed = AREA_DAYS.replace("A地区,東部センター,月 木,", "A地区,東部センター,月 金,")
    dry = run(engine, settings, data_set(changed), dry_run=True)
    assert dry.dry_run and dry.import_id is None
    moved = [(m["kind"], m["from"], m["to"]) for m in dry.as_dict()["changes"]["A"]["moved"]]
    assert ("burnable", "2026-12-03", "2026-12-04") in moved
    assert date(2026, 12, 3) in days_of(engine, "A")  # nothing written by the dry run
    result = run(engine, settings, data_set(changed))
    assert result.import_id is not None
    a = days_of(engine, "A")
    assert date(2026, 12, 4) in a
    assert "burnable" not in getattr(a.get(date(2026, 12, 3)), "kinds", [])
    assert all(row.import_id == result.import_id for row in a.values())


def test_a_5374_import_reminds_residents(
    engine: Engine,
    settings: Settings,
    renderer: Renderer,
    make_resident: ResidentFactory,
    tokens: dict[str, str],
) -> None:
    run(engine, settings, data_set())
    make_resident(reminder_timing="eve")
    with freeze_time("2026-12-07 09:00:00"):  # 18:00 JST, the evening before 火2 (びん・缶)
        created = schedule_reminders(engine, settings, renderer, utcnow()).created
    assert len(created) == 1
    from broadcaster.broadcasts import Broadcast

    with Session(engine) as session:
        broadcast = session.exec(select(Broadcast).where(col(Broadcast.id).in_(created))).one()
    assert broadcast.parameters["names"]["ja"] == "びん、缶"


def test_api_upload_of_a_5374_set(app_client: TestClient, tokens: dict[str, str]) -> None:
    files = data_set()
    response = app_client.post(
        "/api/v1/calendars/5374?dry_run=true",
        headers=auth(tokens["環境課"]),
        files={name.removesuffix(".csv"): (name, data, "text/csv") for name, data in files.items()},
    )
    assert response.status_code == 200, response.text
    assert response.json()["dry_run"] and sorted(response.json()["zones"]) == ["A", "B"]
    refused = app_client.post(
        "/api/v1/calendars/5374", headers=auth(tokens["環境課"]),
        files={"area_days": ("area_days.csv", "地名,センター,燃やすごみ\n本町,,月\n".encode(),
                             "text/csv")},
    )
    assert refused.status_code == 422 and "本町" in refused.text


def test_cli_imports_a_5374_folder(tmp_path: Path) -> None:
    env = {"BROADCASTER_CONFIG": str(REPO / "config.toml"), "BROADCASTER_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    folder = tmp_path / "data"
    folder.mkdir()
    for name, data in data_set().items():
        (folder / name).write_bytes(data)
    result = runner.invoke(app, ["calendar", "import-5374", str(folder), "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert "zone A:" in result.output and "unmapped zone B: 小型家電" in result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert report["zones"] == ["A", "B"] and report["dry_run"]


TOKENS = st.sampled_from(["月", "水2", "金5", "土9", "日0", "20261215", "20260931", "*1", "*9",
                          ":", "4", "13", "x", " ", "　", "火2 金4:4 6", "-", "なし"])


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.lists(TOKENS, max_size=8))
def test_any_cell_gives_dates_or_a_reason(tokens: list[str]) -> None:
    import unicodedata

    cell = unicodedata.normalize("NFKC", " ".join(tokens))
    try:
        days, _ = cell_dates(cell, *DEC, {"1": "要予約"})
    except ValueError as exc:
        assert str(exc)
    else:
        assert all(DEC[0] <= day < DEC[1] for day in days)
