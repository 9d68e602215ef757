"""The desk's shelters page: importing the 指定緊急避難場所 CSV through the API's import
(a bad line refuses the whole file, in Japanese beside the file field) and adding one
shelter through the API's create route."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.audit import AuditEntry
from broadcaster.emergency.shelters import Shelter
from tests.console.signing import sign_in
from tests.emergency.test_shelters import GOOD

IMPORT = "/console/emergency/shelters/import"


def _shelters(engine: Engine) -> list[Shelter]:
    with Session(engine) as session:
        return list(session.exec(select(Shelter).order_by(Shelter.name)).all())


def test_the_desk_imports_the_csv_and_sees_what_was_added_and_changed(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "bosai")
    first = app_client.post(
        IMPORT,
        data={"csrf_token": csrf},
        files={"file": ("shelters.csv", GOOD.encode("cp932"), "text/csv")},
        follow_redirects=False,
    )
    assert first.status_code == 303
    page = app_client.get(first.headers["location"]).text
    assert "新規 2か所、更新 0か所" in page and "中央小学校" in page
    again = app_client.post(
        IMPORT,
        data={"csrf_token": csrf},
        files={"file": ("shelters.csv", GOOD.encode(), "text/csv")},
    )
    assert "新規 0か所、更新 2か所" in again.text
    assert [s.name for s in _shelters(engine)] == ["中央小学校", "山間公民館"]
    with Session(engine) as session:  # audited as the API's import is, under the person
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action == "shelter.import")
        ).first()
        assert entry is not None and "鈴木 次郎" in entry.actor


def test_a_bad_line_refuses_the_file_in_japanese_beside_the_field_and_writes_nothing(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "bosai")
    bad = GOOD + "3,海辺集会所,海辺1,○,,,,,,,,北緯33度,130.1,,中央\n"
    answer = app_client.post(
        IMPORT,
        data={"csrf_token": csrf},
        files={"file": ("shelters.csv", bad.encode(), "text/csv")},
    )
    assert answer.status_code == 422
    page = answer.text
    assert "CSV に誤りのある行が 1 行あります。何も反映していません。" in page
    error = re.search(r'<p class="field-error" id="err-f-file">([^<]+)</p>', page)
    assert error and "下に挙げた行を直して" in error.group(1)
    assert re.search(r'id="f-file"[^>]*aria-invalid="true"', page)
    assert "4 行目: 列「緯度」の値「北緯33度」は数値ではありません。" in page  # the line, listed
    assert _shelters(engine) == []


def test_no_file_or_too_large_a_file_is_refused_beside_the_field(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "bosai")
    empty = app_client.post(
        IMPORT, data={"csrf_token": csrf}, files={"file": ("shelters.csv", b"", "text/csv")}
    )
    assert empty.status_code == 422 and "取り込む CSV ファイル" in empty.text
    limit = app_client.app.state.settings.limits.shelters_csv_bytes  # type: ignore[attr-defined]
    big = app_client.post(
        IMPORT,
        data={"csrf_token": csrf},
        files={"file": ("shelters.csv", GOOD.encode().ljust(limit + 1), "text/csv")},
    )
    assert big.status_code == 413 and "上限" in big.text
    assert _shelters(engine) == []


def test_a_department_cannot_import(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    answer = app_client.post(IMPORT, data={"csrf_token": csrf})
    assert answer.status_code == 403 and _shelters(engine) == []


def test_one_shelter_is_added_by_hand_and_a_refusal_keeps_what_was_typed(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "bosai")
    typed = {
        "name": "北公民館",
        "address": "北町1-1",
        "district": "北",
        "latitude": "北緯33度",
        "longitude": "130.87",
        "kinds": ["洪水", "地震"],
        "csrf_token": csrf,
    }
    refused = app_client.post("/console/emergency/shelters/new", data=typed)
    assert refused.status_code == 422
    assert re.search(r'id="f-latitude"[^>]*aria-invalid="true"', refused.text)
    assert 'value="北公民館"' in refused.text and _shelters(engine) == []
    added = app_client.post(
        "/console/emergency/shelters/new",
        data={**typed, "latitude": "33.9"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    (shelter,) = _shelters(engine)
    assert (shelter.name, shelter.district, shelter.kinds, shelter.is_open) == (
        "北公民館",
        "北",
        ["洪水", "地震"],
        False,
    )
    assert "避難所を追加しました" in app_client.get(added.headers["location"]).text
