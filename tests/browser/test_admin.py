"""Job 11 in the browser, as the admin: departments and tokens, a new staff account that
then signs in, a password reset that forces a new password, and the audit log."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import SignIn, Town, check_accessibility, screenshot

WORDS = ("部署とAPIトークン", "職員アカウント", "操作記録", "子育て支援課", "情報政策課")


def _sign_in(browser: Any, town: Town, login: str, password: str) -> Any:
    context = browser.new_context(
        base_url=town.url, viewport={"width": 1280, "height": 900}, locale="ja-JP"
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/console")
    page.get_by_label("ログインID").fill(login)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="サインイン").click()
    page.wait_for_url(re.compile(r"/console/(?!login)"))
    return page


@pytest.mark.parametrize("width", [1280, 768])
def test_admin_pages_read_well_and_refuse_in_japanese(signed_in: SignIn, width: int) -> None:
    page = signed_in("admin", width=width)
    page.get_by_role("link", name="管理", exact=True).click()
    page.wait_for_url("**/console/admin")
    check_accessibility(page, words=WORDS)
    screenshot(page, "admin-departments")
    # A taken name: refused next to the field, the summary focused, nothing created.
    page.get_by_label("部署名").fill("環境課")
    page.get_by_role("button", name="部署を追加").click()
    page.wait_for_selector("#error-summary")
    assert page.inner_text("#err-f-name") == "部署「環境課」はすでにあります。"
    assert page.evaluate("document.activeElement.id") == "error-summary"
    screenshot(page, "admin-department-refused")
    page.get_by_role("link", name="職員アカウント").click()
    check_accessibility(page, words=WORDS)
    screenshot(page, "admin-staff")
    page.get_by_role("link", name="操作記録").click()
    check_accessibility(page, words=WORDS)
    screenshot(page, "admin-audit")


def test_admin_adds_an_account_who_signs_in_then_resets_it(
    signed_in: SignIn, browser: Any, town: Town
) -> None:
    page = signed_in("admin")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/console/admin/staff")
    page.get_by_label("氏名").fill("木村 四郎")
    page.get_by_label("部署（役割は部署で決まります）").select_option(label="環境課（部署）")
    page.get_by_label("ログインID").fill("kimura.shiro")
    page.get_by_label("最初のパスワード（12文字以上）").fill("kimura first password")
    page.get_by_role("button", name="アカウントを追加").click()
    page.wait_for_selector("#done")
    assert "木村 四郎さん" in page.inner_text("#done")
    screenshot(page, "admin-staff-created")

    person = _sign_in(browser, town, "kimura.shiro", "kimura first password")
    assert "木村 四郎" in person.inner_text("header .who")

    page.get_by_role("button", name="木村 四郎さんのパスワードを再設定").click()
    page.wait_for_selector("#secret-value")
    temporary = page.inner_text("#secret-value").strip()
    assert len(temporary) >= 12
    screenshot(page, "admin-password-reset")
    # The person's open session ended with the reset.
    person.goto("/console/broadcasts")
    assert "/console?next=" in person.url
    person.context.close()

    again = _sign_in(browser, town, "kimura.shiro", temporary)
    assert again.url.endswith("/console/password")
    again.get_by_label("新しいパスワード（12文字以上）").fill("kimura chose this one")
    again.get_by_label("確認のためもう一度").fill("kimura chose this one")
    again.get_by_role("button", name="変更する").click()
    again.wait_for_url("**/console/broadcasts")
    again.context.close()

    page.goto("/console/admin/audit?actor=高橋")
    text = page.inner_text("table.audit")
    for action in ("staff.create", "staff.password_reset"):
        assert action in text
    assert "情報政策課 高橋 美咲" in text


def test_admin_issues_and_revokes_a_token_with_the_keyboard(signed_in: SignIn) -> None:
    page = signed_in("admin")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/console/admin")
    page.get_by_role("button", name="環境課に新しいトークンを発行").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#secret-value")
    secret = page.inner_text("#secret-value").strip()
    assert secret.startswith("bct_")
    prefix = secret[:10]
    revoke = page.get_by_role("button", name=f"環境課のトークン {prefix} を失効させる")
    revoke.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/admin")
    row = page.inner_text("#department-2")
    assert prefix in row and "失効（" in row


def test_a_department_gets_the_403_page(signed_in: SignIn) -> None:
    page = signed_in("kosodate", width=768)
    answer = page.goto("/console/admin/staff")
    assert answer is not None and answer.status == 403
    assert "権限がありません" in page.inner_text("main")
    screenshot(page, "admin-forbidden")
