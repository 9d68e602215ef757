"""Settings with extra attributes of every type, so rules and imports cover them all."""

from __future__ import annotations

from pathlib import Path

import pytest

from broadcaster.settings import Settings
from segments.fields import FieldCatalog
from tests.conftest import make_settings

EXTRA_ATTRIBUTES = {
    "要介護度": "integer",
    "転入日": "date",
    "自治会": "string",
    "障害者手帳": "boolean",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, **{"residents.extra_attributes": EXTRA_ATTRIBUTES})


@pytest.fixture
def catalog(settings: Settings) -> FieldCatalog:
    return FieldCatalog.from_settings(settings.residents)
