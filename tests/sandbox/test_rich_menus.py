"""The sandbox's rich menus: driven by the real SDK (MessagingApi, MessagingApiBlob), with
LINE's limits, and a record of which menu each user sees."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    MessagingApiBlob,
    RichMenuBulkLinkRequest,
    RichMenuBulkUnlinkRequest,
    RichMenuRequest,
)
from PIL import Image

from broadcaster.line_client import DataHostClient
from broadcaster.sandbox.testing import SandboxThread
from broadcaster.settings import LineSettings
from tests.sandbox.cast import HANAKO, KENJI, TOKEN

AUTH = {"authorization": f"Bearer {TOKEN}"}


def menu(height: int = 843, **changes: object) -> RichMenuRequest:
    body = {
        "size": {"width": 2500, "height": height},
        "selected": False,
        "name": "test",
        "chatBarText": "メニュー",
        "areas": [
            {
                "bounds": {"x": 0, "y": 0, "width": 2500, "height": height},
                "action": {"type": "postback", "data": "action=settings", "label": "受信設定"},
            }
        ],
        **changes,
    }
    return RichMenuRequest.from_dict(body)


def png(width: int = 2500, height: int = 843) -> bytearray:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (255, 255, 255)).save(buffer, format="PNG")
    return bytearray(buffer.getvalue())


@pytest.fixture
def apis(sandbox: SandboxThread) -> Iterator[tuple[MessagingApi, MessagingApiBlob]]:
    line = LineSettings.model_validate({"channel_access_token": TOKEN,
                                        "api_base_url": sandbox.url})
    config = Configuration(host=sandbox.url, access_token=TOKEN)
    with ApiClient(config) as client, DataHostClient(line) as blob_client:
        yield MessagingApi(client), MessagingApiBlob(blob_client)


def made(api: MessagingApi, blob: MessagingApiBlob) -> str:
    menu_id = api.create_rich_menu(menu()).rich_menu_id
    blob.set_rich_menu_image(menu_id, png(), _headers={"Content-Type": "image/png"})
    return menu_id


def test_a_menu_is_made_linked_per_user_and_in_bulk_and_recorded(
    sandbox: SandboxThread, apis: tuple[MessagingApi, MessagingApiBlob]
) -> None:
    api, blob = apis
    first, second = made(api, blob), made(api, blob)
    api.set_default_rich_menu(first)
    assert sandbox.rich_menus(HANAKO)["shown"] == first  # the default, nothing linked
    api.link_rich_menu_id_to_user(HANAKO, second)
    assert sandbox.rich_menus(HANAKO) | {"menus": None} == {
        "menus": None, "default": first, "linked_users": 1, "user_id": HANAKO,
        "linked": second, "shown": second}
    api.link_rich_menu_id_to_users(RichMenuBulkLinkRequest(rich_menu_id=second,
                                                           user_ids=[HANAKO, KENJI]))
    assert api.get_rich_menu_id_of_user(KENJI).rich_menu_id == second
    api.unlink_rich_menu_id_from_users(RichMenuBulkUnlinkRequest(user_ids=[KENJI]))
    assert sandbox.rich_menus(KENJI)["shown"] == first
    assert {m.rich_menu_id for m in api.get_rich_menu_list().richmenus} == {first, second}
    api.delete_rich_menu(second)  # deleting a menu unlinks its users
    assert sandbox.rich_menus(HANAKO)["shown"] == first
    assert [m.rich_menu_id for m in api.get_rich_menu_list().richmenus] == [first]


def test_menus_without_an_image_cannot_be_linked_and_images_must_fit(
    sandbox: SandboxThread, apis: tuple[MessagingApi, MessagingApiBlob]
) -> None:
    api, blob = apis
    bare = api.create_rich_menu(menu()).rich_menu_id
    with pytest.raises(ApiException) as no_image:
        api.link_rich_menu_id_to_user(HANAKO, bare)
    assert no_image.value.status == 400
    with pytest.raises(ApiException) as wrong_size:
        blob.set_rich_menu_image(bare, png(2500, 1686), _headers={"Content-Type": "image/png"})
    assert wrong_size.value.status == 400
    blob.set_rich_menu_image(bare, png(), _headers={"Content-Type": "image/png"})
    with pytest.raises(ApiException) as twice:
        blob.set_rich_menu_image(bare, png(), _headers={"Content-Type": "image/png"})
    assert twice.value.status == 400
    assert sandbox.rich_menus()["linked_users"] == 0


def test_bad_menus_and_bulk_requests_are_refused_naming_the_property(
    sandbox: SandboxThread, apis: tuple[MessagingApi, MessagingApiBlob]
) -> None:
    api, blob = apis
    narrow = {**menu().to_dict(), "size": {"width": 2500, "height": 2000}}
    response = httpx.post(f"{sandbox.url}/v2/bot/richmenu", headers=AUTH, json=narrow)
    assert response.status_code == 400
    assert [d["property"] for d in response.json()["details"]] == ["size"]
    outside = menu().to_dict()
    outside["areas"][0]["bounds"]["height"] = 900
    response = httpx.post(f"{sandbox.url}/v2/bot/richmenu", headers=AUTH, json=outside)
    assert [d["property"] for d in response.json()["details"]] == ["areas[0].bounds"]
    too_long = {**menu().to_dict(), "chatBarText": "x" * 15}
    response = httpx.post(f"{sandbox.url}/v2/bot/richmenu", headers=AUTH, json=too_long)
    assert response.json()["details"][0]["property"] == "chatBarText"
    menu_id = made(api, blob)
    many = [f"U{i:032x}" for i in range(501)]
    response = httpx.post(f"{sandbox.url}/v2/bot/richmenu/bulk/link", headers=AUTH,
                          json={"richMenuId": menu_id, "userIds": many})
    assert response.status_code == 400
    assert sandbox.rich_menus()["linked_users"] == 0


def test_creating_more_than_100_menus_an_hour_is_rate_limited(
    make_sandbox: Callable[..., SandboxThread],
) -> None:
    sandbox = make_sandbox()
    body = menu().to_dict()
    started = time.monotonic()
    statuses: list[int] = []
    while 429 not in statuses:
        assert len(statuses) < 150, "no 429 after 150 creations"
        response = httpx.post(f"{sandbox.url}/v2/bot/richmenu", headers=AUTH, json=body)
        statuses.append(response.status_code)
    # 100 at once, then one more each 36 s (a slow machine may earn one or two).
    earned = (time.monotonic() - started) * 100 / 3600
    assert statuses[:100] == [200] * 100
    assert len(statuses) - 1 <= 100 + earned + 1
    assert len(sandbox.rich_menus()["menus"]) == len(statuses) - 1


def test_the_bulk_link_endpoint_allows_100_requests_an_hour_and_the_batch_3(
    make_sandbox: Callable[..., SandboxThread],
) -> None:
    sandbox = make_sandbox(bucket_capacity={"richmenu_bulk_link": 2.0})
    config = Configuration(host=sandbox.url, access_token=TOKEN)
    with ApiClient(config) as client:
        api = MessagingApi(client)
        menu_id = api.create_rich_menu(menu()).rich_menu_id
    httpx.post(f"{sandbox.url}/v2/bot/richmenu/{menu_id}/content",
               headers={**AUTH, "content-type": "image/png"}, content=bytes(png()))
    bulk = {"richMenuId": menu_id, "userIds": [HANAKO]}
    statuses = [
        httpx.post(f"{sandbox.url}/v2/bot/richmenu/bulk/link", headers=AUTH, json=bulk).status_code
        for _ in range(3)
    ]
    assert statuses == [202, 202, 429]
    batch = {"operations": [{"type": "unlinkAll"}]}
    statuses = [
        httpx.post(f"{sandbox.url}/v2/bot/richmenu/batch", headers=AUTH, json=batch).status_code
        for _ in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
