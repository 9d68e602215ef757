"""Uploading a garbage calendar in the console (/console/garbage/preview, /apply): a zone's
iCal (or 5374 CSV) file, what it would change, then applying it.

The upload is checked with the importer's own dry run (the diff the API answers with
`dry_run=true`) and nothing is written until the clerk applies it; the file waits in the
data directory under its SHA-256 meanwhile, so the applied file is the one previewed.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session
from starlette.datastructures import UploadFile

from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.clock import utcnow
from broadcaster.console.garbage import BASE, Owner, field_refusal, garbage_page, overview_page
from broadcaster.console.web import Staff, redirect, require_csrf
from broadcaster.errors import field_messages
from broadcaster.garbage.days import CalendarError
from broadcaster.garbage.importer import ImportResult, import_5374, import_calendar, record_refusal
from broadcaster.offload import off_loop
from broadcaster.settings import Settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
# How long a previewed file waits for its apply.
STAGED_FOR = timedelta(hours=6)
STAGED_NAME = re.compile(r"^[0-9a-f]{64}$")


def _file_refused(exc: CalendarError) -> dict[str, Any]:
    """Why the file was refused, in Japanese beside the file field: what to do, then the
    catalog's words for its code and each series left out; the English stays under 技術的な理由."""
    refused = field_refusal("console.calendar.file", "file", str(exc))
    problems = " ".join(field_messages(exc).values())
    refused["fields"]["file"] = f"{refused['fields']['file']} {problems}".strip()
    return refused


def _staging(settings: Settings) -> Path:
    folder = Path(settings.data_dir) / "console-uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _stage(settings: Settings, data: bytes) -> str:
    """Keep the previewed file until it is applied (old ones are swept on the way)."""
    folder = _staging(settings)
    cutoff = time.time() - STAGED_FOR.total_seconds()
    for old in folder.iterdir():
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    name = hashlib.sha256(data).hexdigest()
    (folder / name).write_bytes(data)
    return name


def _staged(settings: Settings, name: str) -> bytes | None:
    if not STAGED_NAME.match(name):
        return None
    path = _staging(settings) / name
    return path.read_bytes() if path.is_file() else None


def _run(
    session: Session,
    settings: Settings,
    staff: Staff,
    data: bytes,
    kind: str,
    zone: str | None,
    filename: str,
    dry_run: bool,
    now: datetime,
) -> ImportResult:
    """The importer as the API calls it (the same functions, sources named the same way)."""
    actor = staff.actor
    if kind == "5374":
        return import_5374(
            session,
            {"area_days.csv": data},
            settings=settings,
            now=now,
            actor=actor.label,
            source=f"5374:{filename or 'area_days.csv'}",
            dry_run=dry_run,
            department_id=actor.department_id,
        )
    return import_calendar(
        session,
        data,
        settings=settings,
        now=now,
        actor=actor.label,
        source=f"upload:{filename or 'calendar.ics'}",
        zone=zone,
        dry_run=dry_run,
        department_id=actor.department_id,
    )


@router.post(f"{BASE}/preview", response_class=HTMLResponse)
async def preview(
    request: Request, session: SessionDep, settings: SettingsDep, staff: Owner
) -> Response:
    """The dry run of an upload: what would be added, removed, moved; nothing written."""
    form = await request.form()
    upload = form.get("file")
    zone = str(form.get("zone", "")) or None
    kind = str(form.get("format", "ical"))
    typed = {"zone": zone or "", "format": kind}
    if zone is not None and zone not in settings.residents.zones:
        raise HTTPException(404)
    data = b""
    filename = ""
    if isinstance(upload, UploadFile):
        filename = upload.filename or ""
        limit = settings.limits.calendar_bytes
        data = await upload.read(limit + 1)
        await upload.close()
        if len(data) > limit:
            refused = field_refusal("body.too_large", "file")
            return overview_page(request, session, settings, staff, zone, refused, typed, None, 413)
    if not data:
        refused = field_refusal("console.calendar.no_file", "file")
        return overview_page(request, session, settings, staff, zone, refused, typed, None, 422)
    try:
        result = await off_loop(
            _run, session, settings, staff, data, kind, zone, filename, True, utcnow()
        )
    except CalendarError as exc:
        session.rollback()
        refused = _file_refused(exc)
        return overview_page(request, session, settings, staff, zone, refused, typed, None, 422)
    session.rollback()  # a dry run writes nothing; make sure of it
    return garbage_page(
        request,
        staff,
        "garbage_preview.html",
        result=result.as_dict(),
        staged=_stage(settings, data),
        filename=filename,
        chosen_zone=zone or "",
        kind=kind,
    )


@router.post(f"{BASE}/apply", response_class=HTMLResponse)
async def apply(
    request: Request, session: SessionDep, settings: SettingsDep, staff: Owner
) -> Response:
    """Apply the previewed file: the same import, written this time (future days replaced,
    changed days' unsent reminders withdrawn)."""
    form = await request.form()
    name = str(form.get("staged", ""))
    zone = str(form.get("zone", "")) or None
    kind = str(form.get("format", "ical"))
    filename = str(form.get("filename", ""))
    if zone is not None and zone not in settings.residents.zones:
        raise HTTPException(404)
    data = _staged(settings, name)
    if data is None:
        refused = field_refusal("console.calendar.staged_gone", "file")
        return overview_page(request, session, settings, staff, zone, refused, None, None, 422)
    now = utcnow()
    try:
        result = await off_loop(
            _run, session, settings, staff, data, kind, zone, filename, False, now
        )
    except CalendarError as exc:
        session.rollback()
        record_refusal(  # as the API does: staff see why the calendar did not change
            session,
            now=now,
            actor=staff.actor.label,
            source=f"upload:{filename}",
            zone=zone,
            error=exc,
        )
        session.commit()
        refused = _file_refused(exc)
        return overview_page(request, session, settings, staff, zone, refused, None, None, 422)
    session.commit()
    (_staging(settings) / name).unlink(missing_ok=True)
    first = zone or (result.zones[0] if result.zones else "")
    return redirect(f"{BASE}?zone={first}&imported={result.import_id}")
