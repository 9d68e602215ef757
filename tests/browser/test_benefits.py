"""Job 12 in the browser, as 子育て支援課: a program's counts, the confirmation, notify."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from broadcaster.db import table_of
from segments.residents import Resident, ResidentAttribute
from tests.browser.conftest import SignIn, Town, check_accessibility, screenshot
from tests.conftest import T0

FAMILIES = 30  # residents with the verified 子育て世帯 flag


@pytest.fixture(scope="module")
def program(town: Town) -> int:
    """A program for families, and the flag on the first FAMILIES residents."""
    with town.engine.begin() as connection:
        residents = table_of(Resident)
        ids = (
            connection.execute(sa.select(residents.c.id).order_by(residents.c.id).limit(FAMILIES))
            .scalars()
            .all()
        )
        connection.execute(
            sa.insert(table_of(ResidentAttribute)),
            [
                {
                    "resident_id": rid,
                    "name": "子育て世帯",
                    "value": "true",
                    "verified_at": T0,
                    "verified_by": "test",
                }
                for rid in ids
            ],
        )
    answer = httpx.post(
        f"{town.url}/api/v1/benefits",
        headers={"Authorization": f"Bearer {town.tokens['子育て支援課']}"},
        json={
            "name": "児童臨時特別給付金",
            "rule": {"all": [{"field": "子育て世帯", "op": "eq", "value": True}]},
            "parameters": {
                "details": "児童1人あたり5万円を支給します。",
                "how_to_apply": "市役所窓口で申請",
                "contact": "子育て支援課 093-000-0000",
                "amount": 50000,
            },
            "deadline": "2026-09-30",
        },
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


@pytest.mark.parametrize("width", [1280, 768])
def test_the_programs_list_reads_well(signed_in: SignIn, program: int, width: int) -> None:
    page = signed_in("kosodate", width=width)
    page.get_by_role("link", name="給付・手当").click()
    page.wait_for_url("**/console/benefits")
    assert "児童臨時特別給付金" in page.inner_text("main")
    check_accessibility(page, words=("対象者", "通知済み", "届かない方", "申請期限"))
    screenshot(page, "benefits")


def test_a_department_confirms_and_notifies(signed_in: SignIn, program: int) -> None:
    """(serve runs with quiet hours off, so the notice goes whatever the hour.)"""
    page = signed_in("kosodate")
    page.goto(f"/console/benefits/{program}")
    assert page.inner_text("#eligible").startswith(str(FAMILIES))
    page.get_by_role("link", name=f"未通知の{FAMILIES}人に通知する…").click()
    page.wait_for_url(f"**/console/benefits/{program}/notify")
    assert f"未通知の{FAMILIES}人にLINEで送ります" in page.inner_text("main")
    check_accessibility(page, words=("通知の確認", "対象者"))
    screenshot(page, "benefit-confirm")
    page.get_by_role("button", name=f"{FAMILIES}人に通知する").click()
    page.wait_for_load_state()
    page.wait_for_selector("p.info")
    assert f"{FAMILIES}人にお知らせを送りました" in page.inner_text("p.info")
    assert page.inner_text("#notified").startswith(str(FAMILIES))
    assert page.inner_text("#pending").startswith("0")
    screenshot(page, "benefit-notified")


@pytest.mark.parametrize("width", [1280, 768])
def test_a_department_creates_a_program_on_the_screen(
    town: Town, signed_in: SignIn, program: int, width: int
) -> None:
    """The form first refuses a program with no one eligible (beside the conditions), then
    creates it: its page counts the eligible families, nothing is sent yet."""
    name = f"入学準備給付金{width}"
    page = signed_in("kosodate", width=width)
    page.goto("/console/benefits")
    page.get_by_role("link", name="新しい制度を登録する").click()
    page.wait_for_url("**/console/benefits/new")
    page.get_by_label("制度の名前").fill(name)
    page.get_by_label("制度の内容").fill("新1年生1人あたり3万円を支給します。")
    page.get_by_label("申請の方法").fill("市役所窓口で申請")
    page.get_by_label("問い合わせ先").fill("子育て支援課 093-000-0000")
    page.get_by_label("金額（円・任意）").fill("30000")
    page.get_by_role("button", name="制度を登録する（まだ通知しません）").click()
    page.wait_for_selector("#err-f-rule")
    assert "対象者の条件を1つ以上選んでください" in page.inner_text("#err-f-rule")
    assert page.get_by_label("制度の名前").input_value() == name  # kept as typed
    check_accessibility(page, words=("対象になる方", "申請期限"))
    screenshot(page, "benefit-new-refused")

    page.get_by_label("子育て世帯").check()
    page.get_by_label("申請期限（任意）").fill("2027-03-31")
    page.get_by_role("button", name="制度を登録する（まだ通知しません）").click()
    page.wait_for_selector("p.info")
    assert "制度を登録しました" in page.inner_text("p.info")
    assert page.inner_text("h1") == name
    assert page.inner_text("#eligible").startswith(str(FAMILIES))
    assert page.inner_text("#notified").startswith("0")
    check_accessibility(page, words=("対象者", "通知済み"))
    screenshot(page, "benefit-created")
