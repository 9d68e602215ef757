"""Job 7 in the browser: the disaster desk (危機管理課 bosai) issues an order with the keyboard
alone — fill, dry run, confirm, watch the progress — and the LINE sandbox receives it
exactly as it would an order from the API. Also the alert inbox and the shelters screen."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlmodel import Session, func, select

from broadcaster.emergency.models import Emergency
from segments.residents import FollowState, Resident
from tests.browser.conftest import SignIn, Town, check_accessibility, screenshot
from tests.emergency.documents import cap

WORDS = ("緊急配信", "避難情報", "警戒レベル", "避難所", "開設中")


def _api(town: Town) -> httpx.Client:
    return httpx.Client(
        base_url=town.url,
        headers={"Authorization": f"Bearer {town.tokens['危機管理課']}"},
        timeout=30,
    )


def _shelter(town: Town, name: str, district: str, kinds: list[str], is_open: bool) -> int:
    """A shelter through the API (created once per session; opened or closed as asked)."""
    with _api(town) as api:
        found = [s for s in api.get("/api/v1/shelters").json()["shelters"] if s["name"] == name]
        if found:
            shelter_id = int(found[0]["id"])
        else:
            answer = api.post(
                "/api/v1/shelters",
                json={
                    "name": name,
                    "address": f"{district}1-2-3",
                    "district": district,
                    "latitude": 35.0,
                    "longitude": 139.0,
                    "kinds": kinds,
                },
            )
            assert answer.status_code == 201, answer.text
            shelter_id = int(answer.json()["id"])
        api.post(f"/api/v1/shelters/{shelter_id}/{'open' if is_open else 'close'}")
    return shelter_id


def _following(town: Town, districts: list[str]) -> int:
    with Session(town.engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(Resident)
                .where(
                    Resident.follow_state == FollowState.following,
                    Resident.district.in_(districts),  # type: ignore[attr-defined]
                )
            ).one()
        )


def _a_resident_of(town: Town, district: str) -> str:
    with Session(town.engine) as session:
        return (
            session.exec(
                select(Resident.line_user_id).where(
                    Resident.district == district, Resident.language == "ja"
                )
            ).first()
            or ""
        )


def _focused(page: Any) -> str:
    """What has the focus, as a person would name it."""
    return str(
        page.evaluate(
            """() => { const e = document.activeElement;
                 if (e.type === 'radio' || e.type === 'checkbox')
                   return e.name + ':' + (e.labels[0] ? e.labels[0].innerText.trim() : e.value);
                 return e.tagName.toLowerCase() + ':' + (e.id || e.innerText.trim()); }"""
        )
    )


def _tab(page: Any, times: int = 1) -> str:
    for _ in range(times):
        page.keyboard.press("Tab")
    return _focused(page)


@pytest.mark.parametrize(("width", "drill"), [(1280, False), (768, True)])
def test_a_whole_order_with_the_keyboard_alone_reaches_the_sandbox(
    town: Town, signed_in: SignIn, width: int, drill: bool
) -> None:
    _shelter(town, "中央小学校", "中央", ["洪水", "地震"], True)
    _shelter(town, "北公民館", "北", ["洪水"], False)  # 北 has no open shelter
    before = town.sandbox.totals()
    page = signed_in("bosai", width=width)
    page.goto("/console/emergency")
    assert page.title().startswith("緊急配信")
    check_accessibility(page, words=WORDS)
    screenshot(page, "desk-order-form" + ("-drill" if drill else ""))

    # Skip link, then the desk's tabs, then the form in reading order.
    assert _tab(page) == "a:本文へ移動"
    page.keyboard.press("Enter")
    seen = [_tab(page)]
    while not seen[-1].startswith("level:") and len(seen) < 30:
        seen.append(_tab(page))
    assert seen[:3] == ["a:発令・状況", "a:受信した警報", "a:避難所の開設"]
    assert all(stop.startswith("a:") for stop in seen[3:-1])  # orders now active, if any
    assert seen[-1] == "level:警戒レベル3 高齢者等避難"
    page.keyboard.press("ArrowRight")  # within the radio group: level 4
    assert _focused(page) == "level:警戒レベル4 避難指示"
    assert _tab(page) == "select:f-kind"
    page.keyboard.press("ArrowDown")  # the first kind: 洪水
    assert page.evaluate("document.activeElement.value") == "洪水"
    assert _tab(page).startswith("districts:中央")
    page.keyboard.press("Space")
    assert _tab(page).startswith("districts:北")
    page.keyboard.press("Space")
    assert _tab(page, 4).startswith("districts:山間")
    assert _tab(page) == "textarea:f-text"
    page.keyboard.type("〇〇川の水位が上がっています。")
    assert _tab(page).startswith("summary:")  # translations, folded
    assert _tab(page).startswith("drill:訓練として送る")
    if drill:
        page.keyboard.press("Space")
    assert _tab(page).startswith("hold_routine:")
    assert _tab(page).startswith("button:送信先を確認する")
    page.keyboard.press("Enter")

    # The dry run: counts per district and language, the warning for 北, nothing sent.
    page.wait_for_url(re.compile(r"/console/emergency/dry-run$"))
    assert _focused(page).startswith("h1:confirm-heading")
    expected = _following(town, ["中央", "北"])
    assert f"{expected:,}人" in page.inner_text(".big-facts")
    warning = page.inner_text(".no-shelter")
    assert "北地区には洪水に対応する開設中の避難所がありません" in warning
    assert "中央小学校" in page.inner_text("table.counts")
    if drill:
        assert page.locator(".confirm.drill").count() == 1
        assert "【訓練】" in page.inner_text("h1")
    check_accessibility(page, words=WORDS)
    screenshot(page, "desk-dry-run" + ("-drill" if drill else ""))
    assert town.sandbox.totals()["recipients_served"] == before["recipients_served"]

    # Confirm: after the heading, the warning's way out (open a shelter), then send.
    assert _tab(page) == "a:避難所を開設"
    assert _tab(page) == "button:send"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/emergency/\d+$"))
    page.wait_for_selector("[data-final]", timeout=60_000)  # the progress fragment
    assert "すべての送信が終わりました" in page.inner_text(".progress-box")
    if drill:
        assert page.locator(".order-head.drill").count() == 1
        assert page.inner_text("h1").startswith("【訓練】")
    check_accessibility(page, words=WORDS)
    screenshot(page, "desk-progress" + ("-drill" if drill else ""))

    # The sandbox received it like any order: every follower in 中央 and 北, once.
    after = town.sandbox.totals()
    assert after["recipients_served"] - before["recipients_served"] == expected
    assert after["duplicates"] == before["duplicates"]
    [*_, last] = town.sandbox.deliveries(_a_resident_of(town, "中央"))
    text = last["messages"][0]["text"]
    assert "警戒レベル4" in text and ("【訓練】" in text) is drill
    emergency_id = int(page.url.rsplit("/", 1)[1])
    with Session(town.engine) as session:
        row = session.get(Emergency, emergency_id)
        assert row is not None and row.created_by == "危機管理課 鈴木 次郎"

    # 【更新】 then 解除, to the same recipients (keyboard: fill, Enter, accept).
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#f-update-text").focus()
    page.keyboard.type("水位がさらに上がっています。")
    page.keyboard.press("Tab")
    while not _focused(page).startswith("button:【更新】"):
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=【更新】避難情報")
    page.locator("#f-lift-text").focus()
    while not _focused(page).startswith("button:") or "解除" not in _focused(page):
        page.keyboard.press("Tab")  # past the folded per-language texts
    page.keyboard.press("Enter")
    page.wait_for_selector("text=解除済み")
    page.wait_for_selector("[data-final]", timeout=60_000)
    assert town.sandbox.totals()["recipients_served"] - before["recipients_served"] == 3 * expected
    screenshot(page, "desk-lifted" + ("-drill" if drill else ""))


@pytest.mark.parametrize("width", [1280, 768])
def test_the_alert_inbox_sends_a_draft_in_one_step(
    town: Town, signed_in: SignIn, width: int
) -> None:
    with _api(town) as api:
        answer = api.post(
            "/api/v1/alerts",
            content=cap(f"city-2026-browser-{width}", status="Exercise"),
            headers={"Content-Type": "application/xml"},
        )
        assert answer.status_code == 201, answer.text
        draft = answer.json()["draft"]
    page = signed_in("bosai", width=width)
    page.goto("/console/emergency/alerts")
    card = page.locator(f"#draft-{draft['id']}")
    assert "【訓練】" in card.inner_text() and "山間" in card.inner_text()
    check_accessibility(page, words=WORDS)
    screenshot(page, "desk-alerts")
    card.get_by_role("button").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/emergency/\d+$"))
    assert page.inner_text("h1").startswith("【訓練】")


@pytest.mark.parametrize("width", [1280, 768])
def test_shelters_are_opened_and_closed_from_the_screen(
    town: Town, signed_in: SignIn, width: int
) -> None:
    shelter = _shelter(town, "山間分校", "山間", ["土砂災害"], False)
    page = signed_in("bosai", width=width)
    page.goto("/console/emergency/shelters")
    row = page.locator(f"#shelter-{shelter}")
    assert "閉鎖" in row.inner_text()
    check_accessibility(page, words=WORDS)
    screenshot(page, "desk-shelters")
    row.get_by_role("button", name="山間分校を開設する").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#shelter-{shelter}.open")
    assert "開設中" in page.locator(f"#shelter-{shelter}").inner_text()
    with _api(town) as api:
        assert api.get(f"/api/v1/shelters/{shelter}").json()["is_open"] is True
    page.locator(f"#shelter-{shelter}").get_by_role("button").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#shelter-{shelter}:not(.open)")


@pytest.mark.parametrize("width", [1280, 768])
def test_an_update_carries_a_text_per_language(town: Town, signed_in: SignIn, width: int) -> None:
    """【更新】 with an English text: an English reader gets it, not the Japanese one."""
    with _api(town) as api:
        answer = api.post(
            "/api/v1/emergencies",
            json={"level": 3, "districts": ["南"], "kind": "土砂災害", "drill": True},
        )
        assert answer.status_code in (200, 201, 202), answer.text
        emergency_id = int(answer.json()["id"])
    page = signed_in("bosai", width=width)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"/console/emergency/{emergency_id}")
    page.get_by_label("更新の文（日本語）").fill("裏山で小石が落ちてきています。")
    page.locator("#h-update ~ form summary").click()
    english = page.get_by_label("English（en）").first
    english.fill("Small stones are falling from the hill behind the houses.")
    check_accessibility(page, words=WORDS)
    screenshot(page, "desk-update-languages")
    page.get_by_role("button", name="【更新】を送信する").click()
    page.wait_for_selector("text=【更新】避難情報")
    with Session(town.engine) as session:
        row = session.get(Emergency, emergency_id)
        assert row is not None
        assert row.texts["en"] == "Small stones are falling from the hill behind the houses."
    reader = _a_reader_of(town, "南", "en")  # the town has no English reader in 山間
    page.wait_for_selector("[data-final]", timeout=60_000)
    [*_, last] = town.sandbox.deliveries(reader)
    text = last["messages"][0]["text"]
    assert "Small stones are falling" in text and "裏山で小石" not in text


def _a_reader_of(town: Town, district: str, language: str) -> str:
    with Session(town.engine) as session:
        return (
            session.exec(
                select(Resident.line_user_id).where(
                    Resident.district == district,
                    Resident.language == language,
                    Resident.follow_state == FollowState.following,
                )
            ).first()
            or ""
        )
