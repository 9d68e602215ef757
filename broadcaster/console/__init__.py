"""The staff console (/console): Japanese, server-rendered pages for people, not scripts.

Each page module owns one staff job and its router; `ROUTERS` lists them, `install` adds
them to the app with the console's static files and its error pages. Pages change data
only through the same domain functions as the API, so the console can do nothing the API
would refuse, and every refusal is shown in Japanese next to the field it concerns.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from broadcaster.console import (
    admin,
    admin_audit,
    admin_staff,
    alerts,
    benefits,
    calendar,
    compose,
    emergency,
    garbage,
    garbage_days,
    garbage_uploads,
    kpis,
    notices,
    residents,
    shelters,
    signin,
    web,
)

ROUTERS: list[APIRouter] = [
    signin.router,
    notices.router,
    compose.router,
    calendar.router,
    residents.router,
    kpis.router,
    emergency.router,
    alerts.router,
    shelters.router,
    garbage.router,
    garbage_uploads.router,
    garbage_days.router,
    admin.router,
    admin_staff.router,
    admin_audit.router,
    benefits.router,
]
STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the console's pages, static files and error pages (after the API's handlers)."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount(f"{web.PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    web.install(app)
