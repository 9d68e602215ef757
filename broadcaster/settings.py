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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

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


class CapRule(Section):
    """One row of the CAP mapping table: an <info> matching every listed field (an empty
    list matches anything) gets `level` (3, 4, 5), "information" (a notice for the desk,
    no order proposed) or "ignore" (recorded as not acted on). The first matching row wins."""

    category: list[str] = Field(default_factory=list)
    urgency: list[str] = Field(default_factory=list)
    severity: list[str] = Field(default_factory=list)
    certainty: list[str] = Field(default_factory=list)
    level: Literal[3, 4, 5, "information", "ignore"]


class AlertFeedSettings(Section):
    """An Atom feed of JMA telegrams (気象庁防災情報XML, high-frequency or long-term)."""

    url: str = Field(min_length=1)
    # Only entries whose <author><name> is one of these (the offices covering the city);
    # empty: every office. Entries are also filtered by title (`feed_titles`).
    offices: list[str] = Field(default_factory=list)


class EmergencySettings(Section):
    """Alert feeds, area mapping and the shelter CSV (issues 7 and 15)."""

    max_alert_bytes: int = Field(default=1_000_000, ge=1024)
    area_districts: dict[str, list[str]] = Field(default_factory=dict)
    shelter_district_column: str = "地区"
    shelter_district_values: dict[str, str] = Field(default_factory=dict)
    exercise_alerts: Literal["drill_draft", "ignore"] = "drill_draft"
    # CAP category/urgency/severity/certainty -> level; empty: the shipped table (cap.py).
    cap_rules: list[CapRule] = Field(default_factory=list)
    feeds: list[AlertFeedSettings] = Field(default_factory=list)
    # Worst-case time from a feed entry to its draft is about this plus a fraction of a
    # second (bench/alert_feed.py); an unchanged feed costs one 304 per poll.
    feed_interval_seconds: float = Field(default=4.0, ge=1.0)
    feed_timeout_seconds: float = Field(default=10.0, gt=0)
    # A telegram that fails this many fetches is reported as failed and not tried again.
    feed_max_attempts: int = Field(default=5, ge=1)
    # Control/Title prefixes of the telegrams to fetch (the feed entry's <title>).
    feed_titles: list[str] = Field(
        default_factory=lambda: [
            "気象警報・注意報",
            "気象特別警報・警報・注意報",
            "土砂災害警戒情報",
            "指定河川洪水予報",
            "津波警報・注意報・予報",
            "記録的短時間大雨情報",
        ]
    )
    # District and shelter names per resident language ({"en": {"北": "Kita"}}); a name
    # missing for a language is shown in Japanese, and the dry run says so.
    district_names: dict[str, dict[str, str]] = Field(default_factory=dict)
    shelter_names: dict[str, dict[str, str]] = Field(default_factory=dict)


class GarbageKind(Section):
    """One garbage kind: the name residents see, its calendar spellings, and its name in
    residents' other languages (a language without one gets the Japanese name)."""

    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    names: dict[str, str] = Field(default_factory=dict)


def _kind(name: str, aliases: list[str], *names: str) -> GarbageKind:
    """A default kind; `names` are easy-ja, en, zh, ko, vi, pt in that order."""
    languages = ("easy-ja", "en", "zh", "ko", "vi", "pt")
    return GarbageKind(name=name, aliases=aliases, names=dict(zip(languages, names, strict=True)))


def _default_garbage_kinds() -> dict[str, GarbageKind]:
    # Kept apart as cities collect them: a bottles-only day is not a cans day (issue 16).
    return {
        "burnable": _kind(
            "燃やすごみ", ["燃やすごみ", "燃えるごみ", "可燃ごみ", "可燃物", "もえるごみ"],
            "もやす ごみ", "burnable waste", "可燃垃圾", "타는 쓰레기", "rác cháy được",
            "lixo queimável",
        ),
        "non_burnable": _kind(
            "燃やさないごみ",
            ["燃やさないごみ", "燃えないごみ", "不燃ごみ", "不燃物", "もえないごみ"],
            "もやさない ごみ", "non-burnable waste", "不可燃垃圾", "타지 않는 쓰레기",
            "rác không cháy được", "lixo não queimável",
        ),
        "recyclable": _kind(
            "資源ごみ", ["資源ごみ", "資源物", "資源"],
            "しげん ごみ", "recyclables", "可回收资源", "재활용 쓰레기", "rác tái chế",
            "recicláveis",
        ),
        "bottles": _kind(
            "びん", ["びん", "ビン", "瓶", "空きびん", "空きビン"],
            "びん", "glass bottles", "玻璃瓶", "유리병", "chai thủy tinh", "garrafas de vidro",
        ),
        "cans": _kind(
            "缶", ["缶", "かん", "カン", "空き缶", "空きかん"],
            "かん", "cans", "罐", "캔", "lon", "latas",
        ),
        "pet_bottles": _kind(
            "ペットボトル", ["ペットボトル"],
            "ペットボトル", "PET bottles", "塑料瓶（PET）", "페트병", "chai nhựa PET",
            "garrafas PET",
        ),
        "plastic": _kind(
            "プラスチック製容器包装",
            [
                "プラスチック製容器包装", "容器包装プラスチック", "プラスチック", "プラ",
                "容器包装プラ",
            ],
            "プラスチックの いれもの", "plastic packaging", "塑料容器包装",
            "플라스틱 용기·포장", "bao bì nhựa", "embalagens plásticas",
        ),
        "paper": _kind(
            "古紙", ["古紙", "雑がみ", "紙類", "新聞・雑誌"],
            "ふるい かみ", "paper", "旧纸", "폐지", "giấy cũ", "papel",
        ),
        "cloth": _kind(
            "古布", ["古布", "古着", "衣類", "布類"],
            "ふるい ぬの・ふく", "old clothes and cloth", "旧衣物", "헌 옷·천",
            "quần áo và vải cũ", "roupas e tecidos usados",
        ),
        "oversized": _kind(
            "粗大ごみ", ["粗大ごみ"],
            "おおきい ごみ", "oversized waste", "大件垃圾", "대형 쓰레기", "rác cồng kềnh",
            "lixo volumoso",
        ),
        "hazardous": _kind(
            "有害ごみ", ["有害ごみ", "危険ごみ", "有害・危険ごみ", "有害危険ごみ"],
            "あぶない ごみ", "hazardous waste", "有害垃圾", "유해 쓰레기", "rác nguy hại",
            "lixo perigoso",
        ),
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
    max_occurrences_per_event: int = Field(default=1000, ge=1)
    dictionary_contact: str = Field(default="市役所の環境課", min_length=1, max_length=200)


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
