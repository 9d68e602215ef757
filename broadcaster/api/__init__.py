"""The HTTP interface. Each concept has its own router module; ROUTERS lists them all."""

from fastapi import APIRouter

from broadcaster import webhook
from broadcaster.api import alerts as alerts_api
from broadcaster.api import benefits as benefits_api
from broadcaster.api import (
    broadcast_records,
    calendar_imports,
    calendars,
    emergency_drafts,
    health,
    metrics,
    privacy,
)
from broadcaster.api import broadcasts as broadcasts_api
from broadcaster.api import departments as departments_api
from broadcaster.api import emergencies as emergencies_api
from broadcaster.api import kpis as kpis_api
from broadcaster.api import residents as residents_api
from broadcaster.api import rich_menus as rich_menus_api
from broadcaster.api import segments as segments_api
from broadcaster.api import shelters as shelters_api
from broadcaster.api import surveys as surveys_api

API_PREFIX = "/api/v1"

# (router, prefix): API routers take API_PREFIX; the webhook and calendars export their own
# paths. The console's pages are listed in `broadcaster.console.ROUTERS`.
ROUTERS: list[tuple[APIRouter, str]] = [
    (health.router, ""),
    (metrics.router, ""),
    (calendar_imports.router, API_PREFIX),
    (calendars.router, API_PREFIX),
    (calendars.export_router, ""),
    (segments_api.router, API_PREFIX),
    (broadcast_records.router, API_PREFIX),
    (broadcasts_api.router, API_PREFIX),
    (departments_api.router, API_PREFIX),
    (residents_api.router, API_PREFIX),
    (privacy.router, API_PREFIX),
    # Drafts first: `/emergencies/drafts` must not be taken for `/emergencies/{emergency_id}`.
    (emergency_drafts.router, API_PREFIX),
    (emergencies_api.router, API_PREFIX),
    (alerts_api.router, API_PREFIX),
    (shelters_api.router, API_PREFIX),
    (rich_menus_api.router, API_PREFIX),
    (benefits_api.router, API_PREFIX),
    (kpis_api.router, API_PREFIX),
    (surveys_api.router, API_PREFIX),
    (surveys_api.page_router, ""),
    (webhook.router, ""),
]
