"""The verified-attribute import: every bad row is reported by line and nothing is applied;
a dry run shows changes with masked ids; an applied import records who verified it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from broadcaster.cli import app as cli_app
from broadcaster.settings import Settings
from segments.importer import ImportRejected, apply_import, plan_import
from segments.residents import Resident, ResidentAttribute
from tests.conftest import T0, auth, line_user_id

TODAY = dt.date(2026, 4, 1)
HEADER = "line_user_id,birth_date,birth_year,district,子育て世帯,高齢者のみ世帯,要介護度,転入日\n"


def _snapshot(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as connection:
        residents = connection.execute(sa.select(Resident.__table__).order_by(Resident.id)).all()  # type: ignore[attr-defined]
        attributes = connection.execute(
            sa.select(ResidentAttribute.__table__).order_by("resident_id", "name")  # type: ignore[attr-defined]
        ).all()
    return list(residents), list(attributes)


def _plan(engine: Engine, settings: Settings, text: str) -> Any:
    with Session(engine) as session:
        return plan_import(session, text, settings.residents, today=TODAY)


GOOD_ROW = f"{line_user_id(2)},1948-09-15,,山間,0,1,3,2019-04-01\n"

BAD_ROWS = [
    (f"{line_user_id(1)},,,中火,,,,\n", "district", "unknown district '中火'"),
    (f"{line_user_id(1)},1988-02-30,,,,,,\n", "birth_date", "not a date YYYY-MM-DD"),
    (f"{line_user_id(1)},1988/05/03,,,,,,\n", "birth_date", "not a date YYYY-MM-DD"),
    (f"{line_user_id(1)},1988-05-03,1989,,,,,\n", "birth_year", "does not match"),
    (f"{line_user_id(99)},1988-05-03,,,,,,\n", "line_user_id", "no resident with LINE user"),
    ("not-a-user,,,,,,,\n", "line_user_id", "not a LINE user id"),
    (f"{line_user_id(2)},,,,,,,\n", "line_user_id", "already on line 2"),
    (f"{line_user_id(1)},,,,maybe,,,\n", "子育て世帯", "not a valid boolean"),
    (f"{line_user_id(1)},,,,,,high,\n", "要介護度", "not a valid integer"),
    (f"{line_user_id(1)},,\n", None, "expected 8 cells"),
]


@pytest.mark.parametrize(("row", "column", "message"), BAD_ROWS)
def test_a_bad_row_is_reported_by_line_and_nothing_is_applied(
    engine: Engine,
    settings: Settings,
    cast: dict[str, Resident],
    row: str,
    column: str | None,
    message: str,
) -> None:
    before = _snapshot(engine)
    with pytest.raises(ImportRejected) as caught:
        _plan(engine, settings, HEADER + GOOD_ROW + row)
    [error] = caught.value.errors
    assert (error.line, error.column) == (3, column)
    assert message in error.message
    assert line_user_id(99) not in str(caught.value)
    assert _snapshot(engine) == before


def test_an_unknown_column_is_refused_on_the_header_line(
    engine: Engine, settings: Settings, cast: dict[str, Resident]
) -> None:
    with pytest.raises(ImportRejected) as caught:
        _plan(engine, settings, "line_user_id,income\n" + f"{line_user_id(1)},3\n")
    assert [(e.line, e.column) for e in caught.value.errors] == [(1, "income")]


def test_every_bad_row_is_listed_at_once(
    engine: Engine, settings: Settings, cast: dict[str, Resident]
) -> None:
    text = HEADER + BAD_ROWS[0][0] + GOOD_ROW + BAD_ROWS[4][0]
    with pytest.raises(ImportRejected) as caught:
        _plan(engine, settings, text)
    assert [e.line for e in caught.value.errors] == [2, 4]


def test_dry_run_shows_old_and_new_values_with_masked_ids(
    engine: Engine, settings: Settings, cast: dict[str, Resident]
) -> None:
    plan = _plan(engine, settings, HEADER + GOOD_ROW)
    shown = plan.as_json()
    assert shown["residents_changed"] == 1
    [row] = shown["changes"]
    assert row["user"].startswith("U0000…") and line_user_id(2) not in str(shown)
    changes = {c["field"]: (c["old"], c["new"]) for c in row["changes"]}
    # 高齢者のみ世帯 was already verified true: unchanged values are not listed.
    assert changes == {
        "子育て世帯": (None, "false"),
        "要介護度": (None, "3"),
        "転入日": (None, "2019-04-01"),
    }


def test_apply_writes_values_and_who_verified_them(
    engine: Engine, settings: Settings, cast: dict[str, Resident]
) -> None:
    now = dt.datetime(2026, 4, 1, 3, tzinfo=dt.UTC)
    text = HEADER + f"{line_user_id(1)},1988-05-04,,北,1,,,\n" + f"{line_user_id(3)},,1990,,,,,\n"
    with Session(engine) as session:
        plan = plan_import(session, text, settings.residents, today=TODAY)
        assert apply_import(session, plan, verified_by="市民課 佐藤", now=now) == 2
        session.commit()
    with Session(engine) as session:
        family = session.get(Resident, cast["family"].id)
        english = session.get(Resident, cast["english"].id)
        assert family is not None and english is not None
        assert (family.birth_date, family.birth_year, family.district) == (
            dt.date(1988, 5, 4),
            1988,
            "北",
        )
        assert (family.verified_by, family.verified_at) == ("市民課 佐藤", now)
        assert english.birth_year == 1990
        flag = session.get(ResidentAttribute, (cast["family"].id, "子育て世帯"))
        assert flag is not None and (flag.value, flag.verified_by, flag.verified_at) == (
            "true",
            "市民課 佐藤",
            now,
        )


def test_api_import_is_admin_only_and_dry_run_writes_nothing(
    app_client: TestClient, tokens: dict[str, str], engine: Engine, cast: dict[str, Resident]
) -> None:
    files = {"file": ("verified.csv", (HEADER + GOOD_ROW).encode(), "text/csv")}
    url = "/api/v1/residents/import"
    assert app_client.post(url, files=files, headers=auth(tokens["環境課"])).status_code == 403
    before = _snapshot(engine)
    dry = app_client.post(
        url, params={"dry_run": True}, files=files, headers=auth(tokens["情報政策課"])
    )
    assert dry.status_code == 200 and dry.json()["residents_changed"] == 1
    assert _snapshot(engine) == before
    applied = app_client.post(url, files=files, headers=auth(tokens["情報政策課"]))
    assert applied.status_code == 200
    assert line_user_id(2) not in applied.text
    assert _snapshot(engine) != before


def test_api_import_lists_bad_rows_in_a_422(
    app_client: TestClient, tokens: dict[str, str], cast: dict[str, Resident]
) -> None:
    files = {"file": ("verified.csv", (HEADER + BAD_ROWS[0][0]).encode("cp932"), "text/csv")}
    response = app_client.post(
        "/api/v1/residents/import", files=files, headers=auth(tokens["情報政策課"])
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"].startswith("file.line[2]")


def test_api_import_words_each_bad_cell_in_japanese_and_changes_nothing(
    app_client: TestClient, tokens: dict[str, str], engine: Engine, cast: dict[str, Resident]
) -> None:
    rows = f"{line_user_id(1)},1988-02-30,,中火,maybe,,high,\n" + "not-a-user,,,,,,,\n"
    files = {"file": ("verified.csv", (HEADER + rows).encode("cp932"), "text/csv")}
    before = _snapshot(engine)
    response = app_client.post(
        "/api/v1/residents/import",
        files=files,
        headers={**auth(tokens["情報政策課"]), "Accept-Language": "ja"},
    )
    assert response.status_code == 422
    body = response.json()
    assert (body["code"], body["detail"]) == (
        "residents.csv_refused",
        "ファイルに誤りのある行が 2 行あります。何も反映していません。",
    )
    messages = {item["path"]: item["message"] for item in body["errors"]}
    assert messages == {
        "file.line[2].birth_date": "2 行目: 列「birth_date」の値「1988-02-30」は日付"
        "（YYYY-MM-DD）ではありません。",
        "file.line[2].district": "2 行目: 地区「中火」は登録されていません"
        "（中央、北、南、東、西、山間）。",
        "file.line[2].子育て世帯": "2 行目: 列「子育て世帯」の値「maybe」は真偽値"
        "（1/0、true/false）として読み取れません。",
        "file.line[2].要介護度": "2 行目: 列「要介護度」の値「high」は整数として読み取れません。",
        "file.line[3].line_user_id": "3 行目: line_user_id が LINE のユーザー ID"
        "（U と 16 進数 32 桁）ではありません。",
    }
    assert _snapshot(engine) == before


def test_cli_import_dry_run_then_apply(
    tmp_path: Path,
    settings: Settings,
    engine: Engine,
    cast: dict[str, Resident],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        Path("config.toml")
        .read_text(encoding="utf-8")
        .replace('database_url = ""', f'database_url = "{engine.url.render_as_string()}"')
        .replace(
            "extra_attributes = {}",
            'extra_attributes = {"要介護度" = "integer", "転入日" = "date"}',
        ),
        encoding="utf-8",
    )
    csv_file = tmp_path / "verified.csv"
    csv_file.write_text(HEADER + GOOD_ROW, encoding="utf-8-sig")
    runner = CliRunner()
    before = _snapshot(engine)
    dry = runner.invoke(
        cli_app, ["residents", "import", str(csv_file), "--dry-run", "--config", str(config)]
    )
    assert dry.exit_code == 0, dry.output
    assert _snapshot(engine) == before
    done = runner.invoke(
        cli_app,
        ["residents", "import", str(csv_file), "--verified-by", "佐藤", "--config", str(config)],
    )
    assert done.exit_code == 0, done.output
    with Session(engine) as session:
        senior = session.get(Resident, cast["senior"].id)
        assert (
            senior is not None and senior.verified_by == "佐藤" and senior.verified_at is not None
        )
        assert senior.verified_at > T0
