"""Shelters near me: a shared location gets the nearest shelters, nearest first, as LINE
location messages with the distance, in the resident's language."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster import nearby
from broadcaster.emergency.shelters import Shelter
from tests.conftest import T0, auth, line_user_id
from tests.webhook.conftest import LineUser, ServedApp

HOME = (35.0000, 139.0000)
# name, latitude, longitude, kinds, open: distances from HOME about 0.9, 0.3, 2.2, 1.5, 0.6 km
SHELTERS = (
    ("第一小学校", 35.0081, 139.0000, ["洪水", "地震"], True),
    ("市民体育館", 35.0027, 139.0000, ["地震"], True),
    ("北公民館", 35.0200, 139.0000, ["洪水"], True),
    ("南中学校", 34.9865, 139.0000, ["洪水", "地震"], True),
    ("川沿い広場", 35.0054, 139.0000, ["洪水"], False),
)


def add_shelters(engine: Engine) -> None:
    with Session(engine) as session:
        for name, lat, lon, kinds, is_open in SHELTERS:
            session.add(Shelter(name=name, address=f"中央{name}", district="中央", latitude=lat,
                                longitude=lon, kinds=kinds, is_open=is_open,
                                created_at=T0, updated_at=T0))
        session.commit()


def share_location(user: LineUser) -> list[dict[str, object]]:
    user.send("message", location={"title": "現在地", "address": "", "latitude": HOME[0],
                                   "longitude": HOME[1]})
    return user.wait_reply()


def test_with_no_order_the_three_nearest_designated_shelters_come_nearest_first(
    make_user: Callable[[str], LineUser], engine: Engine
) -> None:
    add_shelters(engine)
    user = make_user(line_user_id(80))
    user.follow("English")
    head, *locations = share_location(user)
    assert head["text"].startswith("No shelter is open at the moment.")
    # Open or not: with no order, residents learn where the designated sites are.
    assert [m["title"] for m in locations] == ["市民体育館", "川沿い広場", "第一小学校"]
    assert [m["type"] for m in locations] == ["location"] * 3
    assert locations[0]["address"] == "about 300 m · 中央市民体育館"
    assert (locations[0]["latitude"], locations[0]["longitude"]) == (35.0027, 139.0)


def test_during_an_order_only_open_shelters_for_its_disaster_are_offered(
    make_user: Callable[[str], LineUser], engine: Engine, app: ServedApp,
    tokens: dict[str, str],
) -> None:
    add_shelters(engine)
    order = {"level": 4, "districts": ["中央"], "kind": "洪水", "text": "川が増水しています"}
    response = httpx.post(f"{app.url}/api/v1/emergencies", headers=auth(tokens["危機管理課"]),
                          json=order, timeout=30)
    assert response.status_code in (200, 201), response.text
    user = make_user(line_user_id(81))
    user.follow("日本語")
    head, *locations = share_location(user)
    assert head["text"] == "開設中の避難所（洪水）を近い順にお知らせします。"
    # 市民体育館 (nearest) serves earthquakes only and 川沿い広場 is closed: both left out.
    assert [m["title"] for m in locations] == ["第一小学校", "南中学校", "北公民館"]
    assert [m["address"].split("・")[0] for m in locations] == ["約900m", "約1.5km", "約2.2km"]


def test_tapping_shelters_asks_for_the_location_with_lines_location_button(
    make_user: Callable[[str], LineUser],
) -> None:
    user = make_user(line_user_id(82))
    user.follow("やさしい にほんご")
    user.send("postback", data="action=shelters")
    [ask] = user.wait_reply()
    assert "いる ところを おくると" in ask["text"]
    [button] = ask["quickReply"]["items"]
    assert button["action"] == {"type": "location", "label": "いる ところを おくる"}


def test_no_shelter_at_all_is_said_plainly(make_user: Callable[[str], LineUser]) -> None:
    user = make_user(line_user_id(83))
    user.follow("Português")
    assert share_location(user) == [
        {"type": "text", "text": "Nenhum abrigo foi encontrado perto de você."}]


def test_distance_is_the_great_circle_distance() -> None:
    # One degree of latitude is about 111.2 km anywhere.
    assert round(nearby.distance_m(35.0, 139.0, 36.0, 139.0) / 1000, 1) == 111.2
    assert nearby.distance_m(35.0, 139.0, 35.0, 139.0) == 0.0
