"""`/healthz` and `/readyz`: what a load balancer asks a replica.

- `/healthz` (liveness): the process answers and reaches its database. A failing one is
  restarted.
- `/readyz` (readiness): also the schema is current and, where background work runs,
  this replica is a member (its membership connection holds its liveness lock, see
  `replicas`) and is not shutting down. A failing one gets no traffic but is left alone:
  during a rolling restart a replica is unready from the moment it is told to stop, so
  the balancer drains it while its requests in flight finish. The body says whether it
  leads (informational: any replica serves any request).

With a dispatch process `/healthz` also says whether that is up yet (`dispatch_process`:
`starting` or `ready`): the service answers and sends while it starts, and notices are
written in the service's own process meanwhile, a little slower.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from broadcaster.api.deps import EngineDep
from broadcaster.db import pending_migrations

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: str = Field(description="ok, or the kind of error reaching it")
    dispatch_process: Literal["starting", "ready"] | None = Field(
        default=None, description="the dispatch process, where the service runs one"
    )


@router.get(
    "/healthz",
    summary="Liveness and database check",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database cannot be reached"}},
)
def healthz(request: Request, engine: EngineDep) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "database": "ok"}
    process = getattr(request.app.state, "dispatch_process", None)
    if process is not None:
        body["dispatch_process"] = "ready" if process.ready else "starting"
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        body = {"status": "error", "database": type(exc).__name__}
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get("/readyz", summary="Readiness: database, schema, membership")
def readyz(request: Request, engine: EngineDep) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "database": "ok", "schema": "current"}
    ready = True
    try:
        pending = pending_migrations(engine)
    except sa.exc.SQLAlchemyError as exc:
        return JSONResponse({"status": "error", "database": type(exc).__name__}, 503)
    if pending:
        body["schema"] = f"{len(pending)} migration(s) pending"
        ready = False
    coordinator = getattr(request.app.state, "coordinator", None)
    if coordinator is not None:
        body["replica"] = coordinator.owner
        body["member"] = coordinator.member
        body["leader"] = coordinator.leading
        ready = ready and coordinator.member
    if getattr(request.app.state, "stopping", False):
        body["stopping"] = True
        ready = False
    if not ready:
        body["status"] = "unready"
    return JSONResponse(body, status_code=200 if ready else 503)
