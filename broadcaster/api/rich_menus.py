"""`/api/v1/rich-menus`: what the rich menus are (any token) and making them in LINE from
`[rich_menu]` (admins). A sync creates only menus whose design changed, so it is safe to run
after every config change; LINE allows 100 creations an hour."""

from __future__ import annotations

import urllib3
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from linebot.v3.messaging import ApiException
from pydantic import BaseModel, Field
from sqlmodel import select

from broadcaster import rich_menus
from broadcaster.api.deps import EngineDep, SessionDep, SettingsDep
from broadcaster.auth import AdminActor, CurrentActor
from broadcaster.clock import utcnow
from broadcaster.errors import Conflict, Unavailable
from broadcaster.timestamps import CityTimestamp

router = APIRouter(prefix="/rich-menus", tags=["rich menus"])


class MenuPublic(BaseModel):
    key: str
    line_id: str
    created_at: CityTimestamp


class MenuList(BaseModel):
    menus: list[MenuPublic]


class Synced(BaseModel):
    created: list[str] = Field(description="keys of the menus made anew")
    kept: list[str] = Field(description="keys of the menus whose design did not change")
    deleted: int
    linked: int


@router.get("", summary="The rich menus made in LINE, per kind and language")
def list_menus(session: SessionDep, actor: CurrentActor) -> MenuList:
    rows = session.exec(select(rich_menus.RichMenu).order_by(rich_menus.RichMenu.key)).all()
    return MenuList(
        menus=[MenuPublic(key=r.key, line_id=r.line_id, created_at=r.created_at) for r in rows]
    )


@router.post(
    "/sync",
    summary="Create or update the rich menus in LINE and relink residents",
)
async def sync_menus(engine: EngineDep, settings: SettingsDep, actor: AdminActor) -> Synced:
    if not settings.rich_menu.enabled:
        raise Conflict("rich_menu.disabled")
    try:
        result = await run_in_threadpool(rich_menus.sync, engine, settings, utcnow())
    except ApiException as exc:
        # LINE's answer is shown as it came (503: nothing to fix in the request).
        raise Unavailable(
            "rich_menu.line_refused", f"{exc.status} {exc.body}", status=exc.status
        ) from exc
    except (OSError, urllib3.exceptions.HTTPError) as exc:  # no answer at all
        raise Unavailable("line.unreachable", f"LINE could not be reached: {exc}") from exc
    return Synced(
        created=result.created, kept=result.kept, deleted=result.deleted, linked=result.linked
    )
