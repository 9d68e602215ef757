"""The HTTP interface. Each concept has its own router module; ROUTERS lists them all."""

from fastapi import APIRouter

from broadcaster.api import health
from broadcaster.console import views as console

API_PREFIX = "/api/v1"

# (router, prefix): API routers take API_PREFIX; the webhook, calendars export and console
# their own paths.
ROUTERS: list[tuple[APIRouter, str]] = [
    (health.router, ""),
    (console.router, ""),
]
