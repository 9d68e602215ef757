"""`/console/admin/audit` (admins only): the audit log, filtered, 50 entries a page.

The page reads the log through `audit.search` and `audit.count`, as the API's audit
listing does. The dates typed in the filter are the city's local days, turned into
instants here, so 「5月1日」 means that whole day in the city, not in UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from broadcaster import audit
from broadcaster.api.deps import SessionDep, SettingsDep
from broadcaster.console.admin import PAGE, PREFIX, AdminStaff, admin_page
from broadcaster.console.web import refusal, require_csrf
from broadcaster.errors import DomainError, FieldError, Refused
from broadcaster.settings import Settings

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


def _day(value: str, field: str, settings: Settings, *, end: bool = False) -> datetime | None:
    """A date typed in the filter as the instant its local day starts (or the next day's
    start, for the end of the range)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Refused("console.bad_date", errors=[FieldError(field, "console.bad_date")]) from None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), settings.tz).astimezone(UTC)


@router.get(f"{PREFIX}/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: AdminStaff,
    actor: str = "",
    action: str = "",
    entity: str = "",
    entity_id: str = "",
    page: int = 1,
) -> Response:
    typed = {
        "actor": actor.strip()[:128],
        "action": action[:64],
        "entity": entity[:64],
        "entity_id": entity_id.strip()[:64],
        "from": request.query_params.get("from", "")[:10],
        "to": request.query_params.get("to", "")[:10],
    }
    page = max(page, 1)
    refused = None
    entries: list[audit.AuditEntry] = []
    total = 0
    try:
        start = _day(typed["from"], "from", settings)
        end = _day(typed["to"], "to", settings, end=True)
        if start is not None and end is not None and end <= start:
            raise Refused("console.bad_range", errors=[FieldError("to", "console.bad_range")])
        f = audit.Filter(
            actor=typed["actor"] or None,
            action=typed["action"] or None,
            entity=typed["entity"] or None,
            entity_id=typed["entity_id"] or None,
            since=start,
            until=end,
        )
        entries = audit.search(session, f, limit=PAGE, offset=(page - 1) * PAGE)
        total = audit.count(session, f)
    except DomainError as exc:
        refused = refusal(exc)
    query = {k: v for k, v in typed.items() if v}
    return admin_page(
        request,
        "admin_audit.html",
        staff,
        status_code=422 if refused else 200,
        entries=entries,
        total=total,
        page=page,
        pages=max((total + PAGE - 1) // PAGE, 1),
        typed=typed,
        query=query,
        actions=audit.actions(session),
        entities=audit.entities(session),
        refusal=refused,
        show=_shown,
    )


def _shown(value: dict[str, Any] | None) -> str:
    """An entry's before/after as staff read it (Japanese as is, not \\u escapes)."""
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
