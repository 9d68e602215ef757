"""`/healthz`: is the service up and can it reach its database?"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from broadcaster.api.deps import EngineDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: str = Field(description="ok, or the kind of error reaching it")


@router.get(
    "/healthz",
    summary="Liveness and database check",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database cannot be reached"}},
)
def healthz(engine: EngineDep) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "database": "ok"}
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        body = {"status": "error", "database": type(exc).__name__}
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
