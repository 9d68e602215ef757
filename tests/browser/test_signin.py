"""Job 1 in the browser: each person signs in with their own account and sees their menu."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import SignIn, Town, check_accessibility, screenshot

MENUS = {
    # ごみ収集 is 環境課's page: other departments do not see it.
    "kosodate": [
        "配信一覧",
        "お知らせ作成",
        "配信予定",
        "給付・手当",
        "登録者",
        "指標",
    ],
    "bosai": ["緊急配信", "配信一覧", "配信予定", "登録者", "指標"],
    "admin": [
        "緊急配信",
        "配信一覧",
        "お知らせ作成",
        "配信予定",
        "ごみ収集",
        "給付・手当",
        "登録者",
        "指標",
        "管理",
    ],
}


@pytest.mark.parametrize("width", [1280, 768])
def test_the_sign_in_page_is_japanese_and_keyboard_usable(
    town: Town, browser: Any, width: int
) -> None:
    context = browser.new_context(base_url=town.url, viewport={"width": width, "height": 800})
    try:
        page = context.new_page()
        page.goto("/console")
        assert page.title().startswith("サインイン")
        check_accessibility(page)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        page.get_by_label("ログインID").fill("kosodate")
        page.get_by_label("パスワード").fill("wrong password!!")
        page.keyboard.press("Enter")
        page.wait_for_selector("#error-summary")
        assert "ログインIDまたはパスワードが正しくありません" in page.inner_text("#error-summary")
        assert page.evaluate("document.activeElement.id") == "error-summary"
        screenshot(page, "signin-refused")
    finally:
        context.close()


@pytest.mark.parametrize("login", list(MENUS))
def test_each_role_sees_its_own_menu_and_name(signed_in: SignIn, login: str) -> None:
    page = signed_in(login)
    items = page.locator("header nav a").all_inner_texts()
    assert items == MENUS[login]
    who = page.inner_text("header .who")
    assert {"kosodate": "山田 花子", "bosai": "鈴木 次郎", "admin": "高橋 美咲"}[login] in who


def test_logout_ends_the_session(signed_in: SignIn) -> None:
    page = signed_in("kosodate")
    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url("**/console")
    page.goto("/console/broadcasts")
    assert "/console?next=" in page.url


@pytest.mark.parametrize("width", [1280, 768])
def test_the_menu_fits_a_tablet_without_broken_words(signed_in: SignIn, width: int) -> None:
    page = signed_in("admin", width=width)
    check_accessibility(page, words=("危機管理課", "情報政策課", "配信一覧", "お知らせ作成"))
    screenshot(page, "menu-admin")
