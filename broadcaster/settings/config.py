"""The whole configuration as one typed `Settings`, read once at start from `config.toml`
plus `BROADCASTER_*` variables.

A wrong setting must stop the service before it touches residents, with one line that names
the key (and the variable it came from), never a traceback: `load_settings` turns the first
validation error into a `SettingsError`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from broadcaster.settings.emergency import EmergencySettings
from broadcaster.settings.garbage import GarbageSettings
from broadcaster.settings.sections import (
    ConsoleSettings,
    FrequencySettings,
    KpiSettings,
    LimitSettings,
    LineSettings,
    MetricsSettings,
    QuietHoursSettings,
    RateLimitSettings,
    ResidentSettings,
    RetentionSettings,
    RichMenuSettings,
    SandboxSettings,
    SchedulingSettings,
    ServerSettings,
)

ENV_PREFIX = "BROADCASTER_"
DEFAULT_CONFIG = Path("config.toml")


class SettingsError(Exception):
    """A setting is missing or wrong; `str()` is the one line shown to the operator."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "Asia/Tokyo"
    data_dir: Path = Path("data")
    database_url: str = ""
    auto_migrate: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    server: ServerSettings = ServerSettings()
    console: ConsoleSettings = ConsoleSettings()
    line: LineSettings = LineSettings()
    sandbox: SandboxSettings = SandboxSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    quiet_hours: QuietHoursSettings = QuietHoursSettings()
    frequency: FrequencySettings = FrequencySettings()
    scheduling: SchedulingSettings = SchedulingSettings()
    residents: ResidentSettings
    garbage: GarbageSettings = GarbageSettings()
    emergency: EmergencySettings = EmergencySettings()
    rich_menu: RichMenuSettings = RichMenuSettings()
    kpis: KpiSettings = KpiSettings()
    metrics: MetricsSettings = MetricsSettings()
    retention: RetentionSettings = RetentionSettings()
    limits: LimitSettings = LimitSettings()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'broadcaster.db').resolve()}"


def load_settings(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read `path` (default: $BROADCASTER_CONFIG or ./config.toml), apply the environment.

    Raises SettingsError with one line naming the first bad key.
    """
    environ = os.environ if environ is None else environ
    path = path or Path(environ.get(f"{ENV_PREFIX}CONFIG", DEFAULT_CONFIG))
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(
            f"config file {path} not found (set BROADCASTER_CONFIG to its path)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    sources: dict[str, str] = {}
    _apply_environment(raw, environ, sources)
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        origin = f" (from {sources[key]})" if key in sources else f" (in {path})"
        raise SettingsError(f"setting {key}{origin}: {error['msg']}") from None


def env_name(dotted: str) -> str:
    """`line.channel_secret` -> `BROADCASTER_LINE_CHANNEL_SECRET`."""
    return ENV_PREFIX + dotted.replace(".", "_").upper()


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> list[tuple[str, bool]]:
    """Every settable key as (dotted name, is_list), walking nested sections."""
    keys: list[tuple[str, bool]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_leaf_keys(annotation, f"{prefix}{name}."))
        else:
            keys.append((f"{prefix}{name}", str(annotation).startswith(("list", "dict"))))
    return keys


def _apply_environment(
    raw: dict[str, Any], environ: Mapping[str, str], sources: dict[str, str]
) -> None:
    for dotted, structured in _leaf_keys(Settings):
        name = env_name(dotted)
        if name not in environ:
            continue
        value: Any = environ[name]
        if structured:
            # Lists and tables are given as TOML values: BROADCASTER_RESIDENTS_ZONES='["A","B"]'.
            try:
                value = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                raise SettingsError(f"setting {dotted} (from {name}): not a TOML value") from None
        _set_dotted(raw, dotted, value)
        sources[dotted] = name


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
