"""`/healthz`: is the service up and can it reach its database?"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from broadcaster.api.deps import EngineDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and database check")
def healthz(engine: EngineDep) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "database": "ok"}
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        body = {"status": "error", "database": type(exc).__name__}
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
