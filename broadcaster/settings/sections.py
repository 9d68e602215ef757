"""The sections of the service's own settings: one frozen model per `[section]` of
config.toml, each refusing an unknown key and bounding its values, so a typo or an
impossible value stops the service at start with the key named (broadcaster.settings.config).

The sections of the larger features have their own modules (`garbage`, `emergency`).
"""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class Section(BaseModel):
    """A section: an unknown key is an error (a typo must not fall back to a default), and
    settings do not change while the service runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = ""
    # Names this replica's leases on batches; empty: the host name. Stable across restarts,
    # so a restarted process takes back its dead predecessor's leases at once.
    replica_id: str = Field(default="", max_length=40)


class ConsoleSettings(Section):
    """Staff sign-in: how long a session lives and how failed sign-ins are throttled."""

    idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_hours: int = Field(default=12, ge=1, le=24 * 7)
    sign_in_failures: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Secure cookies: "auto" when the request came over https (behind a proxy: its
    # X-Forwarded-Proto, with uvicorn's forwarded_allow_ips), or always, or never.
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    # Signs session cookies; empty: a key made once and kept in the database.
    secret_key: SecretStr = SecretStr("")


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

    # LINE serves rich-menu images from a second host; empty: api-data.line.me for LINE's
    # own API host, else the same host as api_base_url (the sandbox serves both).
    api_data_base_url: str = ""

    @property
    def uses_sandbox(self) -> bool:
        return not self.channel_access_token.get_secret_value()

    @property
    def data_base_url(self) -> str:
        if self.api_data_base_url:
            return self.api_data_base_url
        if self.api_base_url.rstrip("/") == "https://api.line.me":
            return "https://api-data.line.me"
        return self.api_base_url


class SandboxSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=1, le=65535)
    access_token: SecretStr = SecretStr("sandbox-token")
    channel_secret: SecretStr = SecretStr("sandbox-secret")
    added_latency_ms: int = Field(default=0, ge=0)
    # A file under data_dir keeping the record of deliveries and friends across restarts.
    record_file: str = ""


class MetricsSettings(Section):
    """Who may read `/metrics`: a bearer token when set, else only this machine."""

    enabled: bool = True
    token: SecretStr = SecretStr("")


class RetentionSettings(Section):
    """How long per-resident delivery rows and webhook event ids are kept (0: forever)."""

    delivery_days: int = Field(default=400, ge=0)
    webhook_event_days: int = Field(default=30, ge=0)

    @field_validator("delivery_days")
    @classmethod
    def _covers_the_caps_week(cls, value: int) -> int:
        if 0 < value < 8:
            raise ValueError("must be 0 (keep) or at least 8: the frequency caps count a week")
        return value


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
    broadcaster.render_budget, segments.rule_parser). See config.toml [limits] for the reasons."""

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
    # Per language, configured names (districts, zones, interests, garbage kinds) as
    # residents of that language read them: {"en": {"中央": "Chuo"}}.
    labels: dict[str, dict[str, str]] = Field(default_factory=dict)


RichMenuAction = Literal["settings", "garbage", "shelters", "contact", "language", "stop", "orders"]

_NORMAL_MENU: tuple[RichMenuAction, ...] = (
    "settings",
    "garbage",
    "shelters",
    "orders",
    "language",
    "stop",
)
_DISASTER_MENU: tuple[RichMenuAction, ...] = ("shelters", "orders", "language")


class RichMenuSettings(Section):
    """The rich menus residents see under the chat (one per language, and a disaster menu
    linked during an evacuation order). Labels come from the residents' catalog."""

    enabled: bool = True
    # Buttons, in reading order, 1 to 6 (a grid of 3 per row).
    normal: list[RichMenuAction] = Field(
        default_factory=lambda: list(_NORMAL_MENU),
        min_length=1,
        max_length=6,
    )
    disaster: list[RichMenuAction] = Field(
        default_factory=lambda: list(_DISASTER_MENU), min_length=1, max_length=6
    )
    # Where お問い合わせ leads (an https page of the city); required if "contact" is used.
    contact_url: str = ""
    # Images the city supplies: <image_dir>/<normal|disaster>-<language>.png (or .jpg),
    # 2500 px wide, 843 px high per row of buttons. A missing file is drawn with Pillow.
    image_dir: str = ""
    # A font with Japanese and Korean glyphs for drawn images (e.g. Noto Sans CJK);
    # empty: the first one found among common system paths.
    font_path: str = ""
    # Whether a drill (訓練) order switches residents to the disaster menu too.
    switch_on_drill: bool = False

    @model_validator(mode="after")
    def _contact_has_a_page(self) -> RichMenuSettings:
        uses_contact = "contact" in self.normal or "contact" in self.disaster
        if uses_contact and not self.contact_url.startswith("https://"):
            raise ValueError("contact_url must be an https:// page when a menu has contact")
        return self


class KpiTargets(Section):
    """The city's own targets per fiscal year (the year April starts in, e.g. 2026 for
    FY2026 = April 2026 to March 2027). A KPI without a target for a year shows none."""

    friends: dict[int, int] = Field(default_factory=dict)
    deliveries: dict[int, int] = Field(default_factory=dict)
    delivery_satisfaction: dict[int, float] = Field(default_factory=dict)
    service_satisfaction: dict[int, float] = Field(default_factory=dict)
    staff_satisfaction: dict[int, float] = Field(default_factory=dict)


class KpiSettings(Section):
    # Counts of residents below this are shown as "< N" everywhere (API, CSV, console).
    suppression_threshold: int = Field(default=20, ge=1)
    # A block this soon after a broadcast is attributed to it.
    block_window_hours: float = Field(default=24.0, gt=0)
    # The LINE plan's monthly message limit (0: no limit, e.g. 地方公共団体プラン).
    monthly_message_limit: int = Field(default=0, ge=0)
    # The population the friends share is reported against (0: not reported).
    population: int = Field(default=0, ge=0)
    targets: KpiTargets = KpiTargets()
