"""Rich menus (the buttons under the chat): one per language, and a disaster menu per
language that residents of districts under an evacuation order see until it is lifted.

The menus are defined by `[rich_menu]` (which buttons) and the residents' catalog (their
labels); `sync` creates in LINE (through the SDK) each menu whose definition or image
changed since the last sync, uploads its image, makes the Japanese menu the default, and
deletes the menus it replaced. Which LINE menu id stands for which (kind, language) is a
row of `rich_menu`, so every replica and restart agrees.

Who sees which menu is derived, never stored: a following resident in a district under an
active order sees `disaster:<language>`, anyone else `normal:<language>`. Links change
when that answer changes: a resident picks a language or a district (the webhook links
one user), an order is issued or lifted (`switch_after_commit`, called from the emergency
order code), menus are re-synced. Bulk links go 500 users a request; LINE allows 100 such
requests an hour, so when it answers 429 the rest is linked one user at a time (2,000/s).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    MessagingApi,
    MessagingApiBlob,
    RichMenuBulkLinkRequest,
    RichMenuRequest,
)
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from broadcaster.db import UTCDateTime, session_scope
from broadcaster.line_client import DataHostClient, configuration
from broadcaster.rich_menu_image import draw, grid
from broadcaster.settings import LineSettings, Settings
from segments.catalog import texts_for
from segments.residents import FollowState, Resident, mask_user_id

log = logging.getLogger(__name__)

KINDS = ("normal", "disaster")
BULK_MAX = 500  # LINE: at most 500 user ids per bulk link request
MAX_ACTION_LABEL = 20
MAX_CHAT_BAR = 14


class RichMenu(SQLModel, table=True):
    """The LINE rich menu standing for one (kind, language), e.g. key "disaster:en"."""

    __tablename__ = "rich_menu"

    key: str = Field(primary_key=True, max_length=32)
    line_id: str = Field(max_length=64)
    digest: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)


@dataclass(frozen=True)
class MenuDesign:
    """One menu as LINE will get it: the rich menu object and its image."""

    key: str
    body: dict[str, Any]
    image: bytes
    content_type: str

    @property
    def digest(self) -> str:
        canonical = json.dumps(self.body, ensure_ascii=False, sort_keys=True).encode()
        return hashlib.sha256(canonical + self.image).hexdigest()


def key_of(kind: str, language: str) -> str:
    return f"{kind}:{language}"


def design(settings: Settings, kind: str, language: str) -> MenuDesign:
    """The menu for (kind, language) from config and catalog (pure apart from reading a
    city-supplied image file)."""
    config = settings.rich_menu
    actions = config.normal if kind == "normal" else config.disaster
    texts = texts_for(language, settings.residents.labels)
    labels = [texts(f"menu.{action}") for action in actions]
    (width, height), boxes = grid(len(actions))
    areas = [
        {
            "bounds": {"x": x, "y": y, "width": w, "height": h},
            "action": _action(action, label, config.contact_url),
        }
        for action, label, (x, y, w, h) in zip(actions, labels, boxes, strict=True)
    ]
    chat_bar = texts("menu.chat_bar" if kind == "normal" else "menu.chat_bar_disaster")
    body = {
        "size": {"width": width, "height": height},
        # The disaster menu opens by itself: residents should not have to find it.
        "selected": kind == "disaster",
        "name": f"broadcaster {kind} {language}",
        "chatBarText": chat_bar[:MAX_CHAT_BAR],
        "areas": areas,
    }
    image, content_type = _image(config.image_dir, kind, language, labels, config.font_path)
    return MenuDesign(key_of(kind, language), body, image, content_type)


def _action(action: str, label: str, contact_url: str) -> dict[str, Any]:
    short = label[:MAX_ACTION_LABEL]
    if action == "contact":
        return {"type": "uri", "label": short, "uri": contact_url}
    # Postbacks answered by the webhook (`action=<name>`), shown in the chat as tapped.
    return {"type": "postback", "label": short, "data": f"action={action}", "displayText": label}


def _image(
    image_dir: str, kind: str, language: str, labels: Sequence[str], font_path: str
) -> tuple[bytes, str]:
    if image_dir:
        for suffix, content_type in ((".png", "image/png"), (".jpg", "image/jpeg")):
            path = Path(image_dir) / f"{kind}-{language}{suffix}"
            if path.exists():
                return path.read_bytes(), content_type
    return draw(labels, kind, font_path), "image/png"


# -- making the menus in LINE ------------------------------------------------------------


@dataclass
class SyncResult:
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    deleted: int = 0
    linked: int = 0


def sync(engine: Engine, settings: Settings, now: datetime) -> SyncResult:
    """Make LINE's menus match the configuration; relink residents if any menu changed.

    Raises ApiException when LINE refuses a menu (nothing is recorded for that menu, so
    the next sync tries again)."""
    result = SyncResult()
    with session_scope(engine) as session:
        stored = {row.key: row for row in session.exec(select(RichMenu)).all()}
    replaced: list[str] = []
    with (
        ApiClient(configuration(settings.line)) as client,
        DataHostClient(settings.line) as blob_client,
    ):
        api = MessagingApi(client)
        blob = MessagingApiBlob(blob_client)
        for language in settings.residents.languages:
            for kind in KINDS:
                wanted = design(settings, kind, language)
                old = stored.get(wanted.key)
                if old is not None and old.digest == wanted.digest:
                    result.kept.append(wanted.key)
                    continue
                line_id = api.create_rich_menu(RichMenuRequest.from_dict(wanted.body)).rich_menu_id
                blob.set_rich_menu_image(
                    line_id, bytearray(wanted.image), _headers={"Content-Type": wanted.content_type}
                )
                with session_scope(engine) as session:
                    row = session.get(RichMenu, wanted.key) or RichMenu(
                        key=wanted.key, line_id=line_id, digest=wanted.digest, created_at=now
                    )
                    row.line_id, row.digest, row.created_at = line_id, wanted.digest, now
                    session.add(row)
                if old is not None:
                    replaced.append(old.line_id)
                result.created.append(wanted.key)
        default = key_of("normal", settings.residents.languages[0])
        with session_scope(engine) as session:
            ids = menu_ids(session)
        if result.created:
            api.set_default_rich_menu(ids[default])
            result.linked = relink(engine, settings, None)
        for line_id in replaced:
            try:
                api.delete_rich_menu(line_id)
                result.deleted += 1
            except ApiException as exc:
                log.warning("old rich menu %s not deleted: %s", line_id, exc.status)
    return result


# -- who sees which menu -----------------------------------------------------------------


def menu_ids(session: Session) -> dict[str, str]:
    return {row.key: row.line_id for row in session.exec(select(RichMenu)).all()}


def ordered_districts(session: Session, settings: Settings) -> set[str]:
    """Districts under an active evacuation order (drills only if configured)."""
    # The emergency feature calls into rich menus: importing it at module level is a cycle.
    from broadcaster.emergency.models import Emergency, EmergencyStatus

    query = select(Emergency).where(Emergency.status == EmergencyStatus.active)
    if not settings.rich_menu.switch_on_drill:
        query = query.where(col(Emergency.drill).is_(False))
    return {d for emergency in session.exec(query).all() for d in emergency.districts}


def wanted_key(language: str, district: str | None, ordered: Collection[str]) -> str:
    kind = "disaster" if district is not None and district in ordered else "normal"
    return key_of(kind, language)


@dataclass(frozen=True)
class MenuLink:
    """Link one user to one menu (the webhook does it after replying)."""

    user_id: str
    rich_menu_id: str

    def __repr__(self) -> str:
        return f"MenuLink({mask_user_id(self.user_id)}, {self.rich_menu_id})"


def link_for(session: Session, settings: Settings, resident: Resident) -> MenuLink | None:
    """The menu this resident should see now, or None when menus are not made yet."""
    if not settings.rich_menu.enabled:
        return None
    ids = menu_ids(session)
    key = wanted_key(resident.language, resident.district, ordered_districts(session, settings))
    line_id = ids.get(key) or ids.get(key_of(key.split(":")[0], "ja"))
    return MenuLink(resident.line_user_id, line_id) if line_id else None


def plan(
    session: Session, settings: Settings, districts: Collection[str] | None
) -> dict[str, list[str]]:
    """LINE menu id -> following residents (of `districts`, or all) who should see it."""
    ids = menu_ids(session)
    ordered = ordered_districts(session, settings)
    query = sa.select(col(Resident.line_user_id), col(Resident.language), col(Resident.district))
    query = query.where(col(Resident.follow_state) == FollowState.following)
    if districts is not None:
        query = query.where(col(Resident.district).in_(list(districts)))
    grouped: dict[str, list[str]] = {}
    for user_id, language, district in session.connection().execute(query):
        key = wanted_key(language, district, ordered)
        line_id = ids.get(key) or ids.get(key_of(key.split(":")[0], "ja"))
        if line_id:
            grouped.setdefault(line_id, []).append(user_id)
    return grouped


def link_users(line: LineSettings, grouped: Mapping[str, Iterable[str]]) -> int:
    """Link each menu's users, 500 a bulk request; after a 429 from the bulk endpoint, one
    user a request. Returns how many users were linked; failures are logged, not raised."""
    linked = 0
    with ApiClient(configuration(line)) as client:
        api = MessagingApi(client)
        bulk_allowed = True
        for menu_id, users in grouped.items():
            users = list(users)
            for start in range(0, len(users), BULK_MAX):
                chunk = users[start : start + BULK_MAX]
                if bulk_allowed:
                    try:
                        api.link_rich_menu_id_to_users(
                            RichMenuBulkLinkRequest(rich_menu_id=menu_id, user_ids=chunk)
                        )
                        linked += len(chunk)
                        continue
                    except ApiException as exc:
                        if exc.status != 429:
                            log.warning("bulk link to %s refused: %s", menu_id, exc.status)
                            continue
                        bulk_allowed = False  # this hour's bulk requests are used up
                for user_id in chunk:
                    try:
                        api.link_rich_menu_id_to_user(user_id, menu_id)
                        linked += 1
                    except ApiException as exc:
                        log.warning("link %s refused: %s", mask_user_id(user_id), exc.status)
    return linked


def relink(engine: Engine, settings: Settings, districts: Collection[str] | None) -> int:
    """Give every following resident of `districts` (None: all) the menu they should see."""
    with session_scope(engine) as session:
        grouped = plan(session, settings, districts)
    return link_users(settings.line, grouped)


# -- evacuation orders ---------------------------------------------------------------------

_switches: list[threading.Thread] = []


def switch_after_commit(session: Session, settings: Settings, districts: Sequence[str]) -> None:
    """Once `session` commits (an order issued or lifted), relink the residents of
    `districts` in a thread of its own, so the order is never delayed by rich menus and
    a rolled-back order switches nothing. Called from broadcaster.emergency.orders."""
    if not settings.rich_menu.enabled:
        return
    chosen = list(districts)

    def start(committed: Session) -> None:
        bind = committed.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        thread = threading.Thread(
            target=_switch, args=(engine, settings, chosen), name="rich-menu-switch", daemon=True
        )
        _switches.append(thread)
        thread.start()

    sa.event.listen(session, "after_commit", start, once=True)


def _switch(engine: Engine, settings: Settings, districts: list[str]) -> None:
    try:
        count = relink(engine, settings, districts)
        log.info("rich menus relinked for %d resident(s) of %s", count, "・".join(districts))
    except Exception:
        log.exception("rich menu switch for %s failed", "・".join(districts))


def wait_for_switches(timeout: float = 10.0) -> None:
    """Join the switches started so far (tests and shutdown)."""
    while _switches:
        _switches.pop().join(timeout)
