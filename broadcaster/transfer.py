"""Residents' choices carried to another installation when a city changes vendor.

LINE user ids are issued per provider: the same person has another id under another
provider's channel. So the residents' settings can follow only with the channel itself
(the city keeps its official account and hands the new vendor its token); the document is
keyed by that channel (the bot's user id, from LINE's bot info) and an installation on a
different channel refuses it.

What moves is what residents chose in LINE: follow state, district, garbage zone, reminder
time, language, interests, opt-outs. Staff-verified attributes (birth dates, household
flags) are the city's own records and are imported again from its CSV. The document holds
personal data: it is written readable by its owner only.
"""

from __future__ import annotations

# Lazy imports: commands import what they use when they run, so that `broadcaster
# --help` and each command start in a fraction of a second (issue 17).
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from broadcaster import audit
from broadcaster.db import table_of
from broadcaster.settings import Settings
from segments.residents import (
    FollowState,
    ReminderTiming,
    Resident,
    ResidentInterest,
    ResidentOptOut,
)

FORMAT = "broadcaster.resident-settings/1"


class TransferError(ValueError):
    """The document cannot be imported; the message names the first problem."""


@dataclass(frozen=True)
class Imported:
    created: int
    updated: int


def channel_of(settings: Settings) -> str:
    """The channel's identity: the bot's user id as LINE (or the sandbox) reports it."""
    from linebot.v3.messaging import ApiClient, MessagingApi

    from broadcaster.line_client import configuration

    line = settings.line
    if line.uses_sandbox:
        from broadcaster.serve import with_sandbox

        line = with_sandbox(settings).line
    try:
        with ApiClient(configuration(line)) as client:
            return str(MessagingApi(client).get_bot_info().user_id)
    except Exception as exc:  # the SDK raises urllib3's and its own errors alike
        raise TransferError(
            f"cannot ask LINE which channel this is ({type(exc).__name__}); the document is "
            "keyed by it (with no token set, the sandbox answers: start `make run`)"
        ) from None


def export_choices(
    session: Session, settings: Settings, *, actor: str, now: datetime, channel: str | None = None
) -> dict[str, Any]:
    """The document for every resident (erased ones excluded); audits the export."""
    channel = channel or channel_of(settings)
    interests: dict[int, list[str]] = {}
    for rid, interest in session.exec(select(ResidentInterest.resident_id,
                                             ResidentInterest.interest)).all():
        interests.setdefault(rid, []).append(interest)
    opt_outs: dict[int, list[str]] = {}
    for rid, category in session.exec(select(ResidentOptOut.resident_id,
                                             ResidentOptOut.category)).all():
        opt_outs.setdefault(rid, []).append(category)
    residents = []
    for resident in session.exec(select(Resident).order_by(col(Resident.id))).all():
        if resident.line_user_id.startswith("erased-") or resident.id is None:
            continue
        residents.append({
            "line_user_id": resident.line_user_id,
            "follow_state": resident.follow_state,
            "district": resident.district,
            "garbage_zone": resident.garbage_zone,
            "language": resident.language,
            "reminder_timing": resident.reminder_timing,
            "interests": sorted(interests.get(resident.id, [])),
            "opted_out_of": sorted(opt_outs.get(resident.id, [])),
        })
    audit.record(session, at=now, actor=actor, action="residents.export_settings",
                 entity="resident", after={"channel": channel, "residents": len(residents)})
    return {"format": FORMAT, "channel": channel, "exported_at": now.isoformat(),
            "residents": residents}


def import_choices(
    session: Session, data: bytes, settings: Settings, *, actor: str, now: datetime,
    channel: str | None = None,
) -> Imported:
    """Check the whole document, then add or update every resident (all or nothing)."""
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise TransferError(f"not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TransferError(f"not a {FORMAT} document")
    ours = channel or channel_of(settings)
    if document.get("channel") != ours:
        raise TransferError(
            f"written for channel {document.get('channel')!r}, this installation is on {ours!r};"
            " LINE user ids differ between providers, so they cannot be moved to another channel"
        )
    entries = document.get("residents")
    if not isinstance(entries, list):
        raise TransferError("residents: expected a list")
    checked = [_check(entry, n, settings) for n, entry in enumerate(entries)]
    created = updated = 0
    for entry in checked:
        resident = session.exec(
            select(Resident).where(Resident.line_user_id == entry["line_user_id"])
        ).first()
        if resident is None:
            resident = Resident(line_user_id=entry["line_user_id"], created_at=now,
                                updated_at=now, followed_at=now)
            created += 1
        else:
            updated += 1
        for key in ("follow_state", "district", "garbage_zone", "language", "reminder_timing"):
            setattr(resident, key, entry[key])
        resident.updated_at = now
        session.add(resident)
        session.flush()
        rid = resident.id
        assert rid is not None
        for model, column, values in (
            (ResidentInterest, "interest", entry["interests"]),
            (ResidentOptOut, "category", entry["opted_out_of"]),
        ):
            table = table_of(model)
            session.execute(sa.delete(table).where(table.c.resident_id == rid))
            for value in values:
                session.add(model(resident_id=rid, **{column: value}))
    audit.record(session, at=now, actor=actor, action="residents.import_settings",
                 entity="resident",
                 after={"channel": ours, "created": created, "updated": updated})
    session.flush()
    return Imported(created, updated)


def _check(entry: Any, n: int, settings: Settings) -> dict[str, Any]:
    where = f"residents[{n}]"
    if not isinstance(entry, dict):
        raise TransferError(f"{where}: expected an object")
    config = settings.residents
    user = entry.get("line_user_id")
    if not isinstance(user, str) or not user.startswith("U") or len(user) != 33:
        raise TransferError(f"{where}.line_user_id: not a LINE user id")
    allowed: dict[str, list[str]] = {
        "follow_state": [s.value for s in FollowState],
        "district": config.districts,
        "garbage_zone": config.zones,
        "language": config.languages,
        "reminder_timing": [t.value for t in ReminderTiming],
    }
    for key, values in allowed.items():
        value = entry.get(key)
        if value is None and key in ("district", "garbage_zone"):
            continue
        if value not in values:
            raise TransferError(f"{where}.{key}: {value!r} is not one of {', '.join(values)}")
    for key, values in (("interests", config.interests), ("opted_out_of", config.categories)):
        given = entry.get(key, [])
        if not isinstance(given, list) or any(v not in values for v in given):
            raise TransferError(f"{where}.{key}: each must be one of {', '.join(values)}")
    return {"interests": [], "opted_out_of": [], **entry}
