"""`/metrics`: Prometheus' scrape endpoint, for the operator's monitoring only.

The figures say how many residents are waiting for what, so the endpoint is not public:
with `metrics.token` set a scrape must send it as a bearer token; without one, only this
machine (loopback) may scrape. A scrape reads the database (see `broadcaster.metrics`).
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response

from broadcaster.api.deps import EngineDep, SettingsDep

router = APIRouter(tags=["operations"])


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get(
    "/metrics",
    summary="Prometheus metrics (token or loopback only)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    # Loaded at the first scrape: the service starts without the exporter.
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from broadcaster.metrics import registry_for  # (likewise)

    config = settings.metrics
    if not config.enabled:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "metrics are off (metrics.enabled)")
    token = config.token.get_secret_value()
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "send the metrics token: 'Authorization: Bearer <metrics.token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
    elif not _loopback(request.client.host if request.client else None):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "metrics are served to this machine only; set metrics.token to scrape from another",
        )
    registry = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        registry = registry_for(engine, settings.tz)
        request.app.state.metrics_registry = registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
