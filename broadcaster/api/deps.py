"""Dependencies every route shares: the settings, a database session, the renderer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.render import Renderer
from broadcaster.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_renderer(request: Request) -> Renderer:
    """The app's renderer (built once from the settings if the app has none yet)."""
    renderer: Renderer | None = getattr(request.app.state, "renderer", None)
    if renderer is None:
        renderer = Renderer.from_settings(request.app.state.settings)
        request.app.state.renderer = renderer
    return renderer


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request. A refusal raised while it is open rolls back everything
    the request wrote, so routes raise domain errors and never roll back by hand."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
EngineDep = Annotated[Engine, Depends(get_engine)]
RendererDep = Annotated[Renderer, Depends(get_renderer)]
