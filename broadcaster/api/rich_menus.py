"""`/api/v1/rich-menus`: what the rich menus are (any token) and making them in LINE from
`[rich_menu]` (admins). A sync creates only menus whose design changed, so it is safe to run
after every config change; LINE allows 100 creations an hour."""

from __future__ import annotations

from typing import Any

import urllib3
from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from linebot.v3.messaging import ApiException
from sqlmodel import select

from broadcaster import rich_menus
from broadcaster.api.deps import EngineDep, SessionDep, SettingsDep
from broadcaster.auth import AdminActor, CurrentActor
from broadcaster.clock import utcnow
from broadcaster.errors import Unavailable

router = APIRouter(prefix="/rich-menus", tags=["rich menus"])


@router.get("", summary="The rich menus made in LINE, per kind and language")
def list_menus(session: SessionDep, actor: CurrentActor) -> dict[str, Any]:
    rows = session.exec(select(rich_menus.RichMenu).order_by(rich_menus.RichMenu.key)).all()
    return {
        "menus": [
            {"key": r.key, "line_id": r.line_id, "created_at": r.created_at.isoformat()}
            for r in rows
        ]
    }


@router.post(
    "/sync",
    summary="Create or update the rich menus in LINE and relink residents",
    responses={
        502: {"description": "LINE refused a menu (its answer is in detail)"},
        503: {"description": "LINE could not be reached"},
    },
)
async def sync_menus(engine: EngineDep, settings: SettingsDep, actor: AdminActor) -> dict[str, Any]:
    if not settings.rich_menu.enabled:
        raise HTTPException(409, "rich menus are disabled (rich_menu.enabled = false)")
    try:
        result = await run_in_threadpool(rich_menus.sync, engine, settings, utcnow())
    except ApiException as exc:
        raise HTTPException(502, f"LINE refused a rich menu: {exc.status} {exc.body}") from exc
    except (OSError, urllib3.exceptions.HTTPError) as exc:  # no answer at all
        raise Unavailable(detail=f"LINE could not be reached: {exc}") from exc
    return {
        "created": result.created,
        "kept": result.kept,
        "deleted": result.deleted,
        "linked": result.linked,
    }
