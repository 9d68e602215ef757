"""Rich menus made in the sandbox through the SDK, linked per resident by language, and
switched to the disaster menu around an evacuation order, all read from the sandbox's record."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from broadcaster import rich_menus
from broadcaster.sandbox.testing import SandboxThread
from tests.conftest import auth, line_user_id
from tests.webhook.conftest import LineUser, ServedApp

LANGUAGES = ("ja", "easy-ja", "en", "zh", "ko", "vi", "pt")


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def sync(app: ServedApp, token: str) -> dict[str, Any]:
    response = httpx.post(f"{app.url}/api/v1/rich-menus/sync", headers=auth(token), timeout=60)
    assert response.status_code == 200, response.text
    return dict(response.json())


def menu_ids(app: ServedApp, token: str) -> dict[str, str]:
    listed = httpx.get(f"{app.url}/api/v1/rich-menus", headers=auth(token)).json()
    return {m["key"]: m["line_id"] for m in listed["menus"]}


def shown(sandbox: SandboxThread, user: LineUser) -> str | None:
    return sandbox.rich_menus(user.user_id)["shown"]


def enroll(user: LineUser, language: str, district: str) -> None:
    user.tap(user.follow(language), district)


def test_sync_makes_one_menu_per_language_and_kind_once(
    app: ServedApp, sandbox: SandboxThread, tokens: dict[str, str]
) -> None:
    first = sync(app, tokens["情報政策課"])
    assert sorted(first["created"]) == sorted(
        rich_menus.key_of(kind, lang) for kind in rich_menus.KINDS for lang in LANGUAGES
    )
    record = sandbox.rich_menus()
    ids = menu_ids(app, tokens["情報政策課"])
    assert len(record["menus"]) == 14 and all(m["has_image"] for m in record["menus"].values())
    assert record["default"] == ids["normal:ja"]
    english = record["menus"][ids["normal:en"]]
    assert english["chatBarText"] == "Menu"
    assert [a["action"]["label"] for a in english["areas"]] == [
        "Settings", "Garbage days", "Shelters", "Contact", "Language", "Stop notices"]
    disaster = record["menus"][ids["disaster:easy-ja"]]
    assert disaster["selected"] is True
    assert [a["action"]["data"] for a in disaster["areas"]] == [
        "action=shelters", "action=orders", "action=language"]
    # Nothing changed: nothing is created again (LINE allows 100 creations an hour).
    again = sync(app, tokens["情報政策課"])
    assert again["created"] == [] and len(again["kept"]) == 14
    assert len(sandbox.rich_menus()["menus"]) == 14
    # Department tokens may look but not make menus.
    refused = httpx.post(f"{app.url}/api/v1/rich-menus/sync", headers=auth(tokens["環境課"]))
    assert refused.status_code == 403


def test_residents_get_their_languages_menu_and_the_disaster_menu_during_an_order(
    app: ServedApp,
    sandbox: SandboxThread,
    tokens: dict[str, str],
    make_user: Callable[[str], LineUser],
) -> None:
    sync(app, tokens["情報政策課"])
    ids = menu_ids(app, tokens["情報政策課"])
    reader = make_user(line_user_id(60))  # reads English, lives in 中央
    enroll(reader, "English", "Chuo (Central)")
    easy = make_user(line_user_id(61))  # reads やさしい日本語, lives in 北
    enroll(easy, "やさしい にほんご", "きた")
    wait_until(lambda: shown(sandbox, reader) == ids["normal:en"])
    wait_until(lambda: shown(sandbox, easy) == ids["normal:easy-ja"])

    desk = auth(tokens["危機管理課"])
    order = {"level": 4, "districts": ["中央"], "kind": "洪水", "text": "川の水位が上がっています"}
    response = httpx.post(f"{app.url}/api/v1/emergencies", headers=desk, json=order, timeout=30)
    assert response.status_code in (200, 201), response.text
    emergency = response.json()
    wait_until(lambda: shown(sandbox, reader) == ids["disaster:en"])
    assert shown(sandbox, easy) == ids["normal:easy-ja"]  # 北 is not under the order
    # The disaster menu's first button asks for the location, in English.
    reader.send("postback", data="action=shelters")
    [ask] = reader.wait_reply()
    assert ask["text"].startswith("Send your location")
    assert ask["quickReply"]["items"][0]["action"]["type"] == "location"
    # A link made on the bulk endpoint, not one request per resident.
    assert [r for r in sandbox.requests() if r["endpoint"] == "richmenu/bulk/link"]

    lift = httpx.post(
        f"{app.url}/api/v1/emergencies/{emergency['id']}/lift", headers=desk, json={}, timeout=30
    )
    assert lift.status_code in (200, 201), lift.text
    wait_until(lambda: shown(sandbox, reader) == ids["normal:en"])
    assert shown(sandbox, easy) == ids["normal:easy-ja"]
    rich_menus.wait_for_switches()


def test_changing_language_later_relinks_the_menu(
    app: ServedApp,
    sandbox: SandboxThread,
    tokens: dict[str, str],
    make_user: Callable[[str], LineUser],
) -> None:
    sync(app, tokens["情報政策課"])
    ids = menu_ids(app, tokens["情報政策課"])
    user = make_user(line_user_id(62))
    enroll(user, "日本語", "南")
    wait_until(lambda: shown(sandbox, user) == ids["normal:ja"])
    user.send("message", text="Idioma")  # the Portuguese command word works for anyone
    choose = user.wait_reply()
    done = user.tap(choose, "Português")
    assert done[0]["text"].startswith("Seu idioma agora é Português.")
    wait_until(lambda: shown(sandbox, user) == ids["normal:pt"])
