"""Typed settings, read once at start from `config.toml` plus `BROADCASTER_*` variables.

A wrong setting must stop the service before it touches residents, with one line that names
the key (and the variable it came from), never a traceback. Settings are an object handed to
`create_app(settings)`; nothing reads them from a module global.

`config` holds the whole `Settings` and `load_settings` (the file, the environment, the one
line of a `SettingsError`); `sections` the service's own sections; `garbage` and
`emergency` the sections of those features. Import them all from here.
"""

from __future__ import annotations

from broadcaster.settings.config import (
    DEFAULT_CONFIG,
    ENV_PREFIX,
    Settings,
    SettingsError,
    env_name,
    load_settings,
)
from broadcaster.settings.emergency import AlertFeedSettings, CapRule, EmergencySettings
from broadcaster.settings.garbage import GarbageKind, GarbageSettings, GarbageTiming
from broadcaster.settings.sections import (
    ConsoleSettings,
    FrequencySettings,
    KpiSettings,
    KpiTargets,
    LimitSettings,
    LineSettings,
    MetricsSettings,
    QuietHoursSettings,
    RateLimitSettings,
    ResidentSettings,
    RetentionSettings,
    RichMenuAction,
    RichMenuSettings,
    SandboxSettings,
    SchedulingSettings,
    Section,
    ServerSettings,
)

__all__ = [
    "DEFAULT_CONFIG",
    "ENV_PREFIX",
    "AlertFeedSettings",
    "CapRule",
    "ConsoleSettings",
    "EmergencySettings",
    "FrequencySettings",
    "GarbageKind",
    "GarbageSettings",
    "GarbageTiming",
    "KpiSettings",
    "KpiTargets",
    "LimitSettings",
    "LineSettings",
    "MetricsSettings",
    "QuietHoursSettings",
    "RateLimitSettings",
    "ResidentSettings",
    "RetentionSettings",
    "RichMenuAction",
    "RichMenuSettings",
    "SandboxSettings",
    "SchedulingSettings",
    "Section",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "env_name",
    "load_settings",
]
