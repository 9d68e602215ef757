"""The shelter registry: the national 指定緊急避難場所 CSV, CRUD, opening and closing."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from broadcaster.cli import app as cli_app
from broadcaster.emergency.shelters import Shelter
from tests.conftest import REPO, auth

HEADER = (
    "NO,名称,住所,洪水,崖崩れ、土石流及び地滑り,高潮,地震,津波,大規模な火事,内水氾濫,"
    "火山現象,緯度,経度,収容人数,地区\n"
)
GOOD = HEADER + (
    "1,中央小学校,中央町1-2-3,○,,,○,,○,,,33.8834,130.8752,500,中央地区\n"
    "2,山間公民館,山間町4-5,,○,,○,,,,,33.9001,130.7003,,山間\n"
)


def test_national_csv_imports_kinds_districts_and_coordinates(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/shelters/import", headers=auth(tokens["危機管理課"]), content=GOOD.encode("cp932")
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 2, "updated": 0}
    shelters = client.get("/api/v1/shelters", headers=auth(tokens["環境課"])).json()["shelters"]
    chuo = next(s for s in shelters if s["name"] == "中央小学校")
    assert chuo["kinds"] == ["洪水", "地震", "大規模な火事"]
    assert (chuo["district"], chuo["capacity"], chuo["is_open"]) == ("中央", 500, False)
    assert chuo["latitude"] == 33.8834
    yama = next(s for s in shelters if s["name"] == "山間公民館")
    assert yama["kinds"] == ["土砂災害", "地震"]
    again = client.post(
        "/api/v1/shelters/import", headers=auth(tokens["危機管理課"]), content=GOOD.encode()
    )
    assert again.json() == {"created": 0, "updated": 2}


def test_a_bad_row_names_its_line_and_nothing_is_imported(
    client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    bad = (
        GOOD
        + "3,海辺集会所,海辺1,○,,,,,,,,北緯33度,130.1,,中央\n4,,南町1,,,,,,,,,33.1,130.1,,火星\n"
    )
    headers = {**auth(tokens["危機管理課"]), "Accept-Language": "ja"}
    response = client.post("/api/v1/shelters/import", headers=headers, content=bad.encode())
    assert response.status_code == 422
    body = response.json()
    assert (body["code"], body["detail"]) == (
        "shelters.csv_refused",
        "CSV に誤りのある行が 2 行あります。何も反映していません。",
    )
    assert {item["path"]: item["message"] for item in body["errors"]} == {
        "file.line[4].緯度": "4 行目: 列「緯度」の値「北緯33度」は数値ではありません。",
        "file.line[5].名称": "5 行目: 列「名称」が空です。",
        "file.line[5].地区": "5 行目: 列「地区」の値「火星」は登録された地区ではありません"
        "（中央、北、南、東、西、山間）。",
    }
    english = client.post(
        "/api/v1/shelters/import",
        headers={**headers, "Accept-Language": "en"},
        content=bad.encode(),
    ).json()
    assert english["errors"][0]["message"] == "line 4, 緯度: '北緯33度' is not a number"
    with Session(engine) as session:
        assert session.exec(select(Shelter)).all() == []


def test_missing_columns_are_named(client: TestClient, tokens: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/shelters/import",
        headers=auth(tokens["危機管理課"]),
        content="名称,住所\n小学校,町1\n".encode(),
    )
    assert response.json()["errors"][0]["message"] == "line 1: missing column(s) 緯度、経度、地区"


def test_cli_imports_a_file_and_refuses_a_bad_one(tmp_path: Path, engine: Engine) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        (REPO / "config.toml")
        .read_text(encoding="utf-8")
        .replace('database_url = ""', f'database_url = "{engine.url}"'),
        encoding="utf-8",
    )
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD, encoding="utf-8-sig")
    bad.write_text(HEADER + "1,x,y,○,,,,,,,,999,130,,中央\n", encoding="utf-8")
    runner = CliRunner()
    refused = runner.invoke(cli_app, ["shelters", "import", str(bad), "--config", str(config)])
    assert refused.exit_code == 1
    assert "line 2, 緯度: 999 is out of range -90..90" in refused.output
    result = runner.invoke(cli_app, ["shelters", "import", str(good), "--config", str(config)])
    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        assert len(session.exec(select(Shelter)).all()) == 2


def test_open_and_close_are_one_call_for_the_desk_only(
    client: TestClient, tokens: dict[str, str]
) -> None:
    desk = auth(tokens["危機管理課"])
    created = client.post(
        "/api/v1/shelters",
        headers=desk,
        json={
            "name": "北中学校",
            "address": "北町2-1",
            "district": "北",
            "latitude": 33.9,
            "longitude": 130.9,
            "kinds": ["地震", "洪水"],
        },
    )
    assert created.status_code == 201, created.text
    shelter_id = created.json()["id"]
    assert created.json()["kinds"] == ["洪水", "地震"]
    assert (
        client.post(
            f"/api/v1/shelters/{shelter_id}/open", headers=auth(tokens["子育て支援課"])
        ).status_code
        == 403
    )
    opened = client.post(f"/api/v1/shelters/{shelter_id}/open", headers=desk).json()
    assert opened["is_open"] and opened["opened_at"]
    listed = client.get("/api/v1/shelters?open=true&kind=洪水", headers=auth(tokens["環境課"]))
    assert [s["id"] for s in listed.json()["shelters"]] == [shelter_id]
    closed = client.post(f"/api/v1/shelters/{shelter_id}/close", headers=desk).json()
    assert not closed["is_open"] and closed["closed_at"]
    patched = client.patch(f"/api/v1/shelters/{shelter_id}", headers=desk, json={"kinds": ["火山"]})
    assert patched.status_code == 422
    assert client.delete(f"/api/v1/shelters/{shelter_id}", headers=desk).status_code == 204
    assert client.get(f"/api/v1/shelters/{shelter_id}", headers=desk).status_code == 404
