"""Rich menus in the sandbox: create, image upload (LINE serves it from api-data.line.me;
the sandbox from the same port), default, per-user and bulk link/unlink, batch, delete,
list; with LINE's limits, and a record of which menu each user has.

Limits (Messaging API reference, "Rate limits" and "Rich menu"): create, delete, bulk link
and bulk unlink 100 requests an hour each; batch 3 an hour; list 10 a second; other calls
2,000 a second. A menu is 800 to 2,500 px wide, at least 250 px high, width/height at
least 1.45, 1 to 20 areas inside the image, chatBarText at most 14 characters, name at most
300; its image is one PNG or JPEG of at most 1 MB and exactly the menu's size, uploaded
once, before the menu can be linked or made the default. Bulk requests take 1 to 500 users.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from linebot.v3.messaging import (
    RichMenuBatchRequest,
    RichMenuBulkLinkRequest,
    RichMenuBulkUnlinkRequest,
    RichMenuRequest,
)
from PIL import Image, UnidentifiedImageError
from pydantic.v1 import BaseModel
from pydantic.v1 import ValidationError as V1ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from broadcaster.sandbox import errors
from broadcaster.sandbox.records import UserKey, user_id_of, user_key
from broadcaster.sandbox.validation import USER_ID

if TYPE_CHECKING:
    from broadcaster.sandbox.server import LineApi

MAX_IMAGE_BYTES = 1024 * 1024
MAX_BULK_USERS = 500
MAX_AREAS = 20
MAX_CHAT_BAR = 14
MAX_NAME = 300
NO_IMAGE = "must upload richmenu image before applying it to user"
IMAGE_EXISTS = "An image has already been uploaded to the richmenu"


@dataclass
class RichMenuStore:
    """Menus by id, their images, the default, and each user's linked menu."""

    menus: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    default: str | None = None
    links: dict[UserKey, str] = field(default_factory=dict)
    batches: dict[str, float] = field(default_factory=dict)

    def reset(self) -> None:
        self.menus.clear()
        self.images.clear()
        self.default = None
        self.links.clear()
        self.batches.clear()

    def menu_of(self, user_id: str) -> str | None:
        """The menu the user sees: their own link, else the default."""
        return self.links.get(user_key(user_id), self.default)

    def record(self, user_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "menus": {mid: {**m, "has_image": mid in self.images} for mid, m in self.menus.items()},
            "default": self.default,
            "linked_users": len(self.links),
        }
        if user_id is not None:
            body["user_id"] = user_id
            body["linked"] = self.links.get(user_key(user_id))
            body["shown"] = self.menu_of(user_id)
        return body

    def delete(self, menu_id: str) -> None:
        self.menus.pop(menu_id, None)
        self.images.pop(menu_id, None)
        if self.default == menu_id:
            self.default = None
        for key in [k for k, v in self.links.items() if v == menu_id]:
            del self.links[key]


class _Refused(Exception):
    def __init__(self, status: int, message: str, details: list[errors.Problem] | None = None):
        super().__init__(message)
        self.status = status
        self.body = errors.error_body(message, details)


def _model_problems(model: type[BaseModel], body: Any) -> list[errors.Problem]:
    try:
        model.parse_obj(body)
        model.from_dict(body)  # type: ignore[attr-defined]
    except V1ValidationError as exc:
        return [
            errors.Problem(error["msg"], ".".join(str(p) for p in error["loc"]))
            for error in exc.errors()
        ]
    except (ValueError, TypeError, KeyError) as exc:
        return [errors.Problem(str(exc)[:200], "")]
    return []


def check_menu(body: Any) -> list[errors.Problem]:
    """What LINE would refuse in a rich menu object (structure via the SDK model)."""
    problems = _model_problems(RichMenuRequest, body)
    if problems:
        return problems
    size = body["size"]
    width, height = size["width"], size["height"]
    if not 800 <= width <= 2500:
        problems.append(errors.Problem("must be between 800 and 2500", "size.width"))
    if height < 250:
        problems.append(errors.Problem("must be at least 250", "size.height"))
    if height and width / height < 1.45:
        problems.append(errors.Problem("width/height must be at least 1.45", "size"))
    if len(body.get("chatBarText", "")) > MAX_CHAT_BAR:
        problems.append(errors.Problem(f"at most {MAX_CHAT_BAR} characters", "chatBarText"))
    if len(body.get("name", "")) > MAX_NAME:
        problems.append(errors.Problem(f"at most {MAX_NAME} characters", "name"))
    areas = body.get("areas") or []
    if not 1 <= len(areas) <= MAX_AREAS:
        problems.append(errors.Problem(f"1 to {MAX_AREAS} areas", "areas"))
    for index, area in enumerate(areas):
        b = area["bounds"]
        if b["x"] < 0 or b["y"] < 0 or b["x"] + b["width"] > width or b["y"] + b["height"] > height:
            problems.append(errors.Problem("outside the image", f"areas[{index}].bounds"))
    return problems


class RichMenuApi:
    """The rich-menu routes; shares authentication, rate limits and the log with LineApi."""

    def __init__(self, api: LineApi) -> None:
        self.api = api
        self.store = api.state.rich_menus

    async def _handle(
        self,
        request: Request,
        endpoint: str,
        bucket: str,
        work: Callable[[Request, bytes], tuple[int, dict[str, Any]]],
    ) -> Response:
        from broadcaster.sandbox.server import _Answer  # the server's early-answer type

        request_id = str(uuid.uuid4())
        try:
            self.api._check_auth(request)
            raw = await self.api._read_body(request)
            self.api._check_retry_key(request, endpoint)
            self.api._check_rate(bucket)
            status, body = work(request, raw)
        except _Answer as early:
            self.api._log(endpoint, early.status, request_id, None)
            return await self.api._respond(request_id, early.status, early.body)
        except _Refused as refused:
            self.api._log(endpoint, refused.status, request_id, None)
            return await self.api._respond(request_id, refused.status, refused.body)
        self.api._log(endpoint, status, request_id, None)
        return await self.api._respond(request_id, status, body)

    def _json(self, raw: bytes) -> Any:
        import json

        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _Refused(400, errors.INVALID_JSON) from None

    def _menu(self, menu_id: str, *, needs_image: bool = False) -> str:
        if menu_id not in self.store.menus:
            raise _Refused(404, errors.NOT_FOUND)
        if needs_image and menu_id not in self.store.images:
            raise _Refused(400, NO_IMAGE)
        return menu_id

    def _users(self, ids: Any) -> list[str]:
        bad = [u for u in ids if not isinstance(u, str) or not USER_ID.fullmatch(u)]
        if bad:
            raise _Refused(
                400,
                "The property, 'userIds' is invalid",
                [errors.Problem("not a user id", "userIds")],
            )
        return list(ids)

    # -- handlers (no awaits inside: state changes are atomic on the loop) ---------------

    def create(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        body = self._json(raw)
        problems = check_menu(body)
        if problems:
            raise _Refused(400, errors.invalid_body(problems)["message"], problems)
        menu_id = f"richmenu-{uuid.uuid4().hex}"
        self.store.menus[menu_id] = {"richMenuId": menu_id, **body}
        return 200, {"richMenuId": menu_id}

    def upload(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        menu_id = self._menu(request.path_params["richMenuId"])
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind not in ("image/png", "image/jpeg"):
            raise _Refused(415, "Content-Type must be image/png or image/jpeg")
        if len(raw) > MAX_IMAGE_BYTES:
            raise _Refused(413, errors.TOO_LARGE)
        if menu_id in self.store.images:
            raise _Refused(400, IMAGE_EXISTS)
        try:
            with Image.open(io.BytesIO(raw)) as image:
                fmt, size = image.format, image.size
        except (UnidentifiedImageError, OSError):
            raise _Refused(400, "The image is not a PNG or JPEG file") from None
        menu = self.store.menus[menu_id]
        if {"PNG": "image/png", "JPEG": "image/jpeg"}.get(fmt or "") != kind:
            raise _Refused(400, f"The image is {fmt}, not {kind}")
        if size != (menu["size"]["width"], menu["size"]["height"]):
            raise _Refused(400, f"The image is {size[0]}x{size[1]}, the rich menu's size differs")
        self.store.images[menu_id] = (kind, raw)
        return 200, {}

    def get(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        return 200, dict(self.store.menus[self._menu(request.path_params["richMenuId"])])

    def delete(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        self.store.delete(self._menu(request.path_params["richMenuId"]))
        return 200, {}

    def list_menus(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        return 200, {"richmenus": [dict(m) for m in self.store.menus.values()]}

    def set_default(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        self.store.default = self._menu(request.path_params["richMenuId"], needs_image=True)
        return 200, {}

    def get_default(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        if self.store.default is None:
            raise _Refused(404, "no default richmenu")
        return 200, {"richMenuId": self.store.default}

    def cancel_default(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        self.store.default = None
        return 200, {}

    def link(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        [user] = self._users([request.path_params["userId"]])
        menu_id = self._menu(request.path_params["richMenuId"], needs_image=True)
        self.store.links[user_key(user)] = menu_id
        return 200, {}

    def unlink(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        [user] = self._users([request.path_params["userId"]])
        self.store.links.pop(user_key(user), None)
        return 200, {}

    def user_menu(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        [user] = self._users([request.path_params["userId"]])
        linked = self.store.links.get(user_key(user))
        if linked is None:
            raise _Refused(404, "the user has no richmenu")
        return 200, {"richMenuId": linked}

    def bulk_link(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        body = self._bulk(raw, RichMenuBulkLinkRequest)
        menu_id = self._menu(body["richMenuId"], needs_image=True)
        for user in self._users(body["userIds"]):
            self.store.links[user_key(user)] = menu_id
        return 202, {}

    def bulk_unlink(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        body = self._bulk(raw, RichMenuBulkUnlinkRequest)
        for user in self._users(body["userIds"]):
            self.store.links.pop(user_key(user), None)
        return 202, {}

    def _bulk(self, raw: bytes, model: type[BaseModel]) -> dict[str, Any]:
        body = self._json(raw)
        problems = _model_problems(model, body)
        if not problems and not 1 <= len(body["userIds"]) <= MAX_BULK_USERS:
            problems = [errors.Problem(f"1 to {MAX_BULK_USERS} user ids", "userIds")]
        if problems:
            raise _Refused(400, errors.invalid_body(problems)["message"], problems)
        return dict(body)

    def batch(self, request: Request, raw: bytes) -> tuple[int, dict[str, Any]]:
        body = self._json(raw)
        problems = _model_problems(RichMenuBatchRequest, body)
        if problems:
            raise _Refused(400, errors.invalid_body(problems)["message"], problems)
        links = self.store.links
        for operation in body["operations"]:
            kind = operation["type"]
            if kind == "link":
                target = self._menu(operation["to"], needs_image=True)
                for key in [k for k, v in links.items() if v == operation["from"]]:
                    links[key] = target
            elif kind == "unlink":
                for key in [k for k, v in links.items() if v == operation["from"]]:
                    del links[key]
            elif kind == "unlinkAll":
                links.clear()
        # The batch is applied at once; its progress reports it as finished.
        request_id = str(uuid.uuid4())
        self.store.batches[request_id] = time.time()
        return 202, {}

    def routes(self) -> list[Route]:
        def route(path: str, method: str, endpoint: str, bucket: str, work: Any) -> Route:
            async def handler(request: Request) -> Response:
                return await self._handle(request, endpoint, bucket, work)

            return Route(path, handler, methods=[method])

        base = "/v2/bot/richmenu"
        user = "/v2/bot/user/{userId}/richmenu"
        return [
            route(base, "POST", "richmenu/create", "richmenu_create", self.create),
            route(f"{base}/list", "GET", "richmenu/list", "richmenu_list", self.list_menus),
            route(
                f"{base}/bulk/link",
                "POST",
                "richmenu/bulk/link",
                "richmenu_bulk_link",
                self.bulk_link,
            ),
            route(
                f"{base}/bulk/unlink",
                "POST",
                "richmenu/bulk/unlink",
                "richmenu_bulk_unlink",
                self.bulk_unlink,
            ),
            route(f"{base}/batch", "POST", "richmenu/batch", "richmenu_batch", self.batch),
            route(
                base + "/{richMenuId}/content", "POST", "richmenu/content", "richmenu", self.upload
            ),
            route(base + "/{richMenuId}", "GET", "richmenu/get", "richmenu", self.get),
            route(
                base + "/{richMenuId}", "DELETE", "richmenu/delete", "richmenu_delete", self.delete
            ),
            route(
                "/v2/bot/user/all/richmenu/{richMenuId}",
                "POST",
                "richmenu/default",
                "richmenu",
                self.set_default,
            ),
            route(
                "/v2/bot/user/all/richmenu", "GET", "richmenu/default", "richmenu", self.get_default
            ),
            route(
                "/v2/bot/user/all/richmenu",
                "DELETE",
                "richmenu/default",
                "richmenu",
                self.cancel_default,
            ),
            route(user + "/{richMenuId}", "POST", "richmenu/link", "richmenu", self.link),
            route(user, "DELETE", "richmenu/unlink", "richmenu", self.unlink),
            route(user, "GET", "richmenu/user", "richmenu", self.user_menu),
        ]


def user_ids(store: RichMenuStore, menu_id: str) -> list[str]:
    """Users linked to `menu_id` (for tests and the control routes)."""
    return [user_id_of(k) for k, v in store.links.items() if v == menu_id]
