"""`/healthz`: is the service up and can it reach its database?

With a dispatch process it also says whether that is up yet (`dispatch_process`:
`starting` or `ready`): the service answers and sends while it starts, and notices are
written in the service's own process meanwhile, a little slower.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from broadcaster.api.deps import EngineDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and database check")
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
