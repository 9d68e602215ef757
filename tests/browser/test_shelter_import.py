"""The disaster desk imports the city's 指定緊急避難場所 CSV from the shelters screen: a file
with a bad line is refused beside the file field (the line named, nothing written), the
corrected file is imported and the screen says how many were added and changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from broadcaster.emergency.shelters import Shelter
from tests.browser.conftest import SignIn, Town, check_accessibility, screenshot
from tests.emergency.test_shelters import HEADER

WORDS = ("避難所", "取り込む", "開設中")


def _names(town: Town, names: list[str]) -> list[str]:
    with Session(town.engine) as session:
        rows = session.exec(select(Shelter.name).where(Shelter.name.in_(names))).all()  # type: ignore[attr-defined]
        return sorted(rows)


@pytest.mark.parametrize("width", [1280, 768])
def test_the_desk_imports_the_shelter_csv_from_the_screen(
    town: Town, signed_in: SignIn, width: int, tmp_path: Path
) -> None:
    names = [f"取込小学校{width}", f"取込公民館{width}"]
    good = HEADER + (
        f"1,{names[0]},中央町9-{width},○,,,○,,○,,,33.8834,130.8752,500,中央地区\n"
        f"2,{names[1]},山間町9-{width},,○,,○,,,,,33.9001,130.7003,,山間\n"
    )
    bad = good + "3,海辺集会所,海辺1,○,,,,,,,,北緯33度,130.1,,中央\n"
    (tmp_path / "bad.csv").write_bytes(bad.encode("cp932"))
    (tmp_path / "good.csv").write_bytes(good.encode("cp932"))
    page = signed_in("bosai", width=width)
    page.goto("/console/emergency/shelters")
    page.get_by_label("CSV ファイル").set_input_files(str(tmp_path / "bad.csv"))
    page.get_by_role("button", name="取り込む").click()
    page.wait_for_selector("#error-summary")
    assert "何も反映していません" in page.inner_text("#error-summary")
    assert "下に挙げた行を直して" in page.inner_text("#err-f-file")
    assert "4 行目" in page.inner_text("#problems-file")
    assert page.get_by_label("CSV ファイル").get_attribute("aria-invalid") == "true"
    assert _names(town, names) == []
    check_accessibility(page, words=WORDS)
    screenshot(page, "desk-shelters-import-refused")

    page.get_by_label("CSV ファイル").set_input_files(str(tmp_path / "good.csv"))
    page.get_by_role("button", name="取り込む").click()
    page.wait_for_selector("#imported")
    assert "新規 2か所、更新 0か所" in page.inner_text("#imported")
    assert names[0] in page.inner_text("main")
    assert _names(town, names) == sorted(names)
    check_accessibility(page, words=WORDS)
    screenshot(page, "desk-shelters-imported")
