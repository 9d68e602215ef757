"""Jobs 2-6 in the browser, as 子育て支援課 (kosodate) does them, and the admin's approval:
compose with a live count and preview, confirm (everyone needs the tick), change or stop,
the calendar, and watching a real send to the sandbox finish."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from broadcaster import lifecycle
from broadcaster.broadcasts import BroadcastStatus
from tests.browser.conftest import SignIn, Town, check_accessibility, screenshot

WORDS = ("お知らせ", "配信予定", "送信前の確認", "届く人数", "地区別", "言語別", "配信日時")
TOKYO = timedelta(hours=9)


def _tomorrow(hour: int = 10) -> datetime:
    """Tomorrow at `hour` in Tokyo (never in quiet hours), as naive local time."""
    local = datetime.now(UTC) + TOKYO + timedelta(days=1)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0, tzinfo=None)


def _api(town: Town, department: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(
        f"{town.url}/api/v1/broadcasts",
        json=body,
        headers={"Authorization": f"Bearer {town.tokens[department]}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _scheduled(town: Town, title: str, *, hour: int = 10, **extra: Any) -> int:
    body = {
        "title": title,
        "category": "childcare",
        "template_text": "{{ resident.district }}地区のお知らせです。",
        "rule": {"field": "district", "op": "in", "value": ["北"]},
        "send_at": _tomorrow(hour).isoformat(),
        **extra,
    }
    return int(_api(town, "子育て支援課", body)["id"])


@pytest.mark.parametrize("width", [1280, 768])
def test_job2_compose_with_a_live_count_variables_counter_and_preview(
    signed_in: SignIn, width: int
) -> None:
    page = signed_in("kosodate", width=width)
    page.get_by_role("link", name="お知らせ作成").click()
    page.wait_for_url("**/console/new")
    page.get_by_label("件名（職員向け・一覧に表示）").fill(f"子育て広場のご案内 {width}")
    page.get_by_label("分類（受け取る人は").select_option("childcare")
    text = page.get_by_label("本文・日本語（LINEに届く文面）")
    text.fill("子育て広場を開きます。会場：")
    page.get_by_role("button", name="受け取る人の地区名を入れる").click()
    assert text.input_value() == "子育て広場を開きます。会場：{{ resident.district }}"
    text.press("End")
    text.type("地区センター 😊")
    counter = page.locator("#count-text")
    units = len("子育て広場を開きます。会場：{{ resident.district }}地区センター ") + 2
    assert counter.inner_text().startswith(f"{units} / 5,000 文字")
    page.get_by_label("本文・English（任意").fill(
        "The playground opens at the {{ resident.district }} centre."
    )
    page.get_by_label("北", exact=True).check()
    page.get_by_label("南", exact=True).check()
    look = page.locator("#look")
    look.locator("text=人に届きます").wait_for()
    page.wait_for_function(
        "() => document.querySelector('#look [data-recipients]')?.dataset.recipients === '200'"
    )
    assert "English" in look.inner_text() and "北地区センター" in look.inner_text()
    page.wait_for_function(
        "() => document.querySelector('#look').innerText.includes('opens at the')"
    )
    page.get_by_label("下限").fill("30")
    page.wait_for_function(
        "() => Number(document.querySelector('#look [data-recipients]')?.dataset.recipients) < 200"
    )
    page.get_by_label("日時を指定する").check()
    page.get_by_label("配信日時（日本時間）").fill(_tomorrow().strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("繰り返し").select_option("weekly")
    assert page.get_by_label("曜日").is_visible() and not page.get_by_label("日付").is_visible()
    check_accessibility(page, words=WORDS)
    screenshot(page, "notices-compose")
    page.get_by_role("button", name="下書きとして保存").click()
    page.wait_for_url(re.compile(r"/console/broadcasts/\d+$"))
    assert "下書きです" in page.inner_text("main")
    assert "毎週" in page.inner_text("main") and "30歳以上" in page.inner_text("main")
    check_accessibility(page, words=WORDS)


@pytest.mark.parametrize("width", [1280, 768])
def test_job2_a_refusal_stands_next_to_its_field(signed_in: SignIn, width: int) -> None:
    page = signed_in("kosodate", width=width)
    page.goto("/console/new")
    page.get_by_label("件名（職員向け・一覧に表示）").fill("昨日のお知らせ")
    page.get_by_label("本文・日本語（LINEに届く文面）").fill("お知らせです。")
    yesterday = _tomorrow() - timedelta(days=2)
    page.get_by_label("配信日時（日本時間）").fill(yesterday.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="内容を確認する").click()
    page.wait_for_selector("#error-summary")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert "過ぎた日時は指定できません" in page.inner_text("#err-f-send_at")
    assert page.get_by_label("配信日時（日本時間）").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("件名（職員向け・一覧に表示）").input_value() == "昨日のお知らせ"
    check_accessibility(page, words=WORDS)
    screenshot(page, "notices-refused")


@pytest.mark.parametrize("width", [1280, 768])
def test_job3_confirm_shows_who_and_what_and_everyone_needs_the_tick(
    signed_in: SignIn, width: int
) -> None:
    page = signed_in("kosodate", width=width)
    page.goto("/console/new")
    page.get_by_label("件名（職員向け・一覧に表示）").fill(f"全員へのお知らせ {width}")
    page.get_by_label("本文・日本語（LINEに届く文面）").fill("市役所の窓口時間が変わります。")
    page.get_by_label("本文・やさしい日本語（任意").fill(
        "しやくしょの まどぐちの じかんが かわります。"
    )
    page.get_by_label("配信日時（日本時間）").fill(_tomorrow().strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="内容を確認する").click()
    page.wait_for_selector("h1:has-text('送信前の確認')")
    main = page.inner_text("main")
    assert "友だち登録中の全員" in main and "まだ送られていません" in main
    assert "やさしい日本語" in main and "English" in main and "中央" in main
    assert "使う通数" in main and "600 人に届きます" in main
    assert "しやくしょの まどぐちの" in main
    check_accessibility(page, words=WORDS)
    screenshot(page, "notices-confirm-everyone")
    page.get_by_role("button", name="この内容で送る").click()
    page.wait_for_selector("#error-summary")
    assert "チェックを入れてください" in page.inner_text("#err-f-confirm_all")
    screenshot(page, "notices-confirm-refused")
    page.get_by_label("全員に送ることを確認しました").check()
    page.get_by_role("button", name="この内容で送る").click()
    page.wait_for_url(re.compile(r"/console/broadcasts/\d+$"))
    assert "予約済み" in page.inner_text("main")


@pytest.mark.parametrize("width", [1280, 768])
def test_job4_edit_duplicate_and_cancel(town: Town, signed_in: SignIn, width: int) -> None:
    broadcast_id = _scheduled(town, f"健診のお知らせ {width}")
    page = signed_in("kosodate", width=width)
    page.goto(f"/console/broadcasts/{broadcast_id}")
    page.get_by_role("link", name="編集する").click()
    page.wait_for_url(f"**/console/broadcasts/{broadcast_id}/edit")
    assert page.get_by_label("北", exact=True).is_checked()
    page.get_by_label("件名（職員向け・一覧に表示）").fill(f"健診のお知らせ（変更） {width}")
    page.get_by_label("東", exact=True).check()
    check_accessibility(page, words=WORDS)
    screenshot(page, "notices-edit")
    page.get_by_role("button", name="内容を確認する").click()
    page.get_by_role("button", name="この内容で変更する").click()
    page.wait_for_url(f"**/console/broadcasts/{broadcast_id}")
    main = page.inner_text("main")
    assert "健診のお知らせ（変更）" in main and "地区が 北・東" in main
    page.get_by_role("link", name="複製して新しく作る").click()
    page.wait_for_url(re.compile(r"/console/new\?from="))
    assert "（複製）" in page.get_by_label("件名（職員向け・一覧に表示）").input_value()
    page.goto(f"/console/broadcasts/{broadcast_id}")
    page.get_by_role("link", name="この配信を取り消す").click()
    page.wait_for_selector("text=元に戻せません")
    check_accessibility(page, words=WORDS)
    screenshot(page, "notices-cancel")
    page.get_by_role("button", name="取り消す", exact=True).click()
    page.wait_for_url(f"**/console/broadcasts/{broadcast_id}")
    main = page.inner_text("main")
    assert "取消（送信していません）" in main and "誰にも送っていません" in main
    assert "配信完了" not in main and page.get_by_role("link", name="編集する").count() == 0


@pytest.mark.parametrize("width", [1280, 768])
def test_job4_the_admin_approves_and_sends_back(town: Town, signed_in: SignIn, width: int) -> None:
    waiting = [_scheduled(town, f"承認待ち{n} {width}") for n in range(2)]
    with Session(town.engine) as session:  # as approval_required would leave them
        for broadcast_id in waiting:
            lifecycle.move(
                session,
                broadcast_id,
                BroadcastStatus.awaiting_approval,
                datetime.now(UTC),
                sources={BroadcastStatus.scheduled},
            )
        session.commit()
    page = signed_in("admin", width=width)
    page.goto(f"/console/broadcasts/{waiting[0]}")
    assert "管理者の承認を待っています" in page.inner_text("main")
    check_accessibility(page, words=WORDS)
    screenshot(page, "notices-approval")
    page.get_by_role("button", name="承認して予約する").click()
    page.wait_for_selector("text=承認した人")
    assert "予約済み" in page.inner_text("main") and "情報政策課 高橋 美咲" in page.inner_text(
        "main"
    )
    page.goto(f"/console/broadcasts/{waiting[1]}")
    page.get_by_label("差し戻す理由（部署に伝わります）").fill("日付を確認してください")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="差し戻す").click()
    page.wait_for_selector("text=下書きです")


@pytest.mark.parametrize("width", [1280, 768])
def test_job5_the_calendar_by_month_and_week(town: Town, signed_in: SignIn, width: int) -> None:
    _scheduled(town, f"子育て相談会 {width}", hour=13)
    _scheduled(town, f"毎週の離乳食教室 {width}", hour=11, recurrence="0 11 * * *")
    page = signed_in("kosodate", width=width)
    page.get_by_role("link", name="配信予定").click()
    page.wait_for_url("**/console/calendar")
    main = page.inner_text("main")
    assert f"子育て相談会 {width}" in main and "繰り返し" in main
    check_accessibility(page, words=WORDS)
    screenshot(page, "notices-calendar-month")
    page.get_by_role("link", name="週", exact=True).click()
    page.wait_for_url(re.compile(r"view=week"))
    assert f"毎週の離乳食教室 {width}" in page.inner_text("main")
    check_accessibility(page, words=WORDS)
    screenshot(page, "notices-calendar-week")
    page.get_by_label("分類").select_option("garbage")
    page.get_by_role("button", name="絞り込む").click()
    assert f"子育て相談会 {width}" not in page.inner_text("main")


def test_job5_the_admin_filters_the_calendar_by_department(town: Town, signed_in: SignIn) -> None:
    _scheduled(town, "部署で絞る相談会", hour=14)
    page = signed_in("admin")
    page.goto("/console/calendar")
    assert "部署で絞る相談会" in page.inner_text("main")
    page.get_by_label("部署").select_option(label="環境課")
    page.get_by_role("button", name="絞り込む").click()
    assert "部署で絞る相談会" not in page.inner_text("main")
    screenshot(page, "notices-calendar-admin")


@pytest.mark.parametrize("width", [1280, 768])
def test_job6_watch_a_send_finish_without_reloading(signed_in: SignIn, width: int) -> None:
    page = signed_in("kosodate", width=width)
    page.goto("/console/new")
    page.get_by_label("件名（職員向け・一覧に表示）").fill(f"中央地区 清掃のお知らせ {width}")
    page.get_by_label("分類（受け取る人は").select_option("general")
    page.get_by_label("本文・日本語（LINEに届く文面）").fill(
        "{{ resident.district }}地区で清掃を行います。"
    )
    page.get_by_label("中央", exact=True).check()
    page.get_by_label("確認後すぐに送る").check()
    page.get_by_role("button", name="内容を確認する").click()
    page.get_by_role("button", name="この内容で送る").click()
    page.wait_for_url(re.compile(r"/console/broadcasts/\d+$"))
    url = page.url
    page.wait_for_function(
        "() => document.querySelector('#progress [data-final]') !== null", timeout=60_000
    )
    main = page.inner_text("main")
    assert page.url == url  # refreshed in place, not reloaded
    assert "配信完了" in main and "LINEが受け付けた" in main
    assert "子育て支援課 山田 花子" in main and "地区が 中央" in main
    assert "{{ resident.district }}地区で清掃" in main
    check_accessibility(page, words=WORDS)
    screenshot(page, "notices-delivered")
    page.goto("/console/broadcasts")
    assert f"中央地区 清掃のお知らせ {width}" in page.inner_text("main")
    check_accessibility(page, words=WORDS)
    screenshot(page, "notices-list")
