"""Typed settings, read once at start from `config.toml` plus `BROADCASTER_*` variables.

A wrong setting must stop the service before it touches residents, with one line that names
the key (and the variable it came from), never a traceback. Settings are an object handed to
`create_app(settings)`; nothing reads them from a module global.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

ENV_PREFIX = "BROADCASTER_"
DEFAULT_CONFIG = Path("config.toml")


class SettingsError(Exception):
    """A setting is missing or wrong; `str()` is the one line shown to the operator."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = ""


class LineSettings(Section):
    channel_access_token: SecretStr = SecretStr("")
    channel_secret: SecretStr = SecretStr("")
    api_base_url: str = "https://api.line.me"
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    max_in_flight: int = Field(default=16, ge=1, le=256)
    max_attempts: int = Field(default=8, ge=1)
    backoff_base_seconds: float = Field(default=0.5, gt=0)
    backoff_max_seconds: float = Field(default=60.0, gt=0)
    retry_key_memory_hours: float = Field(default=24.0, gt=0)

    @property
    def uses_sandbox(self) -> bool:
        return not self.channel_access_token.get_secret_value()


class SandboxSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=1, le=65535)
    access_token: SecretStr = SecretStr("sandbox-token")
    channel_secret: SecretStr = SecretStr("sandbox-secret")
    added_latency_ms: int = Field(default=0, ge=0)


class RateLimitSettings(Section):
    """Requests per second per LINE endpoint, LINE's documented values by default."""

    multicast: float = Field(default=200.0, gt=0)
    push: float = Field(default=2000.0, gt=0)
    broadcast: float = Field(default=60.0 / 3600.0, gt=0)
    narrowcast: float = Field(default=60.0 / 3600.0, gt=0)
    reply: float = Field(default=2000.0, gt=0)


class QuietHoursSettings(Section):
    enabled: bool = True
    start: time = time(21, 0)
    end: time = time(7, 0)


class FrequencySettings(Section):
    max_per_day: int = Field(default=3, ge=0)
    max_per_week: int = Field(default=10, ge=0)
    digest_enabled: bool = False
    digest_time: time = time(18, 0)


class SchedulingSettings(Section):
    max_lateness_minutes: float = Field(default=30.0, ge=0)
    approval_required: bool = False
    tick_seconds: float = Field(default=1.0, gt=0)
    dispatch_process: bool = True
    # A send_at further ahead than this is refused: a typo ("2062" for "2026") would
    # otherwise sit in the schedule for decades, and dates near year 9999 overflow.
    horizon_days: int = Field(default=730, ge=1, le=36_500)


class LimitSettings(Section):
    """What one request may cost, checked before the work (broadcaster.api.body_limits,
    broadcaster.render_budget, segments.rules). See config.toml [limits] for the reasons."""

    json_body_bytes: int = Field(default=1_000_000, ge=1024)
    webhook_body_bytes: int = Field(default=1_000_000, ge=1024)
    residents_csv_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    calendar_bytes: int = Field(default=5_000_000, ge=1024)
    shelters_csv_bytes: int = Field(default=5_000_000, ge=1024)
    template_chars: int = Field(default=20_000, ge=100)
    parameters_bytes: int = Field(default=64_000, ge=100)
    render_iterations: int = Field(default=10_000, ge=10)
    render_output_chars: int = Field(default=200_000, ge=1000)
    render_seconds: float = Field(default=1.0, gt=0)
    webhook_json_depth: int = Field(default=32, ge=4)


class ResidentSettings(Section):
    districts: list[str] = Field(min_length=1)
    zones: list[str] = Field(min_length=1)
    interests: list[str] = Field(min_length=1)
    languages: list[str] = Field(min_length=1)
    categories: list[str] = Field(min_length=1)
    household_flags: list[str] = Field(default_factory=list)
    extra_attributes: dict[str, Literal["string", "integer", "boolean", "date"]] = Field(
        default_factory=dict
    )


class EmergencySettings(Section):
    """Alert feeds, area mapping and the shelter CSV (issue 7)."""

    max_alert_bytes: int = Field(default=1_000_000, ge=1024)
    area_districts: dict[str, list[str]] = Field(default_factory=dict)
    shelter_district_column: str = "地区"
    shelter_district_values: dict[str, str] = Field(default_factory=dict)
    exercise_alerts: Literal["drill_draft", "ignore"] = "drill_draft"


class GarbageKind(Section):
    """One garbage kind: the name residents see and the calendar spellings that mean it."""

    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)


def _default_garbage_kinds() -> dict[str, GarbageKind]:
    return {
        "burnable": GarbageKind(
            name="燃やすごみ", aliases=["燃やすごみ", "燃えるごみ", "可燃ごみ", "可燃物"]
        ),
        "non_burnable": GarbageKind(
            name="燃やさないごみ", aliases=["燃やさないごみ", "燃えないごみ", "不燃ごみ", "不燃物"]
        ),
        "recyclable": GarbageKind(name="資源ごみ", aliases=["資源ごみ", "資源物"]),
        "bottles_cans": GarbageKind(
            name="びん・缶", aliases=["びん・缶", "びん・かん", "缶・びん", "びん", "缶", "かん"]
        ),
        "pet_bottles": GarbageKind(name="ペットボトル", aliases=["ペットボトル"]),
        "plastic": GarbageKind(
            name="プラスチック製容器包装",
            aliases=["プラスチック製容器包装", "容器包装プラスチック", "プラ"],
        ),
        "paper": GarbageKind(name="古紙", aliases=["古紙", "古紙・古布", "雑がみ"]),
        "oversized": GarbageKind(name="粗大ごみ", aliases=["粗大ごみ"]),
        "hazardous": GarbageKind(name="有害ごみ", aliases=["有害ごみ", "危険ごみ"]),
    }


GarbageTiming = Literal["eve", "morning", "off"]
"""A reminder timing residents may choose: the evening before, the morning of, or none."""


def _default_garbage_timings() -> list[GarbageTiming]:
    return ["eve", "morning", "off"]


class GarbageSettings(Section):
    """The garbage-collection calendar (issue 6); see [garbage] in config.toml."""

    department: str = "環境課"
    expand_days: int = Field(default=400, ge=1, le=3660)
    kinds: dict[str, GarbageKind] = Field(default_factory=_default_garbage_kinds)
    ignore_summaries: list[str] = Field(
        default_factory=lambda: ["収集なし", "収集はありません", "休み"]
    )
    zone_aliases: dict[str, str] = Field(default_factory=dict)
    eve_time: time = time(19, 0)
    morning_time: time = time(6, 30)
    timings: list[GarbageTiming] = Field(default_factory=_default_garbage_timings)
    reminders_ignore_quiet_hours: bool = True
    create_ahead_minutes: float = Field(default=120.0, ge=0)
    reply_days: int = Field(default=5, ge=1, le=20)
    sources: dict[str, str] = Field(default_factory=dict)
    fetch_interval_minutes: float = Field(default=1440.0, gt=0)
    fetch_timeout_seconds: float = Field(default=30.0, gt=0)
    fetch_max_bytes: int = Field(default=5_000_000, ge=1024)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "Asia/Tokyo"
    data_dir: Path = Path("data")
    database_url: str = ""
    auto_migrate: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    server: ServerSettings = ServerSettings()
    line: LineSettings = LineSettings()
    sandbox: SandboxSettings = SandboxSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    quiet_hours: QuietHoursSettings = QuietHoursSettings()
    frequency: FrequencySettings = FrequencySettings()
    scheduling: SchedulingSettings = SchedulingSettings()
    residents: ResidentSettings
    garbage: GarbageSettings = GarbageSettings()
    emergency: EmergencySettings = EmergencySettings()
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
