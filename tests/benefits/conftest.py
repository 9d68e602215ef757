"""Benefit fixtures: the emergency tests' sandbox, API and worker, reused."""

from tests.emergency.conftest import (  # noqa: F401
    client,
    deliver,
    line_app_settings,
    sandbox,
    shared_sandbox,
)
