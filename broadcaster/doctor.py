"""`broadcaster doctor`: is this installation ready to reach residents?

Each check is a small function returning one `Check`; `run_checks` runs them in order and
never raises, so one broken part (LINE unreachable) does not hide the others. A check
`fail`s when residents would not get their messages, `warn`s when something is odd but
sending works. The command's exit code is 1 when any check fails, for monitoring.
"""

from __future__ import annotations

# Lazy imports: commands import what they use when they run, so that `broadcaster
# --help` and each command start in a fraction of a second (issue 17).
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import sqlalchemy as sa

from broadcaster.clock import utcnow
from broadcaster.settings import Settings

Status = Literal["ok", "warn", "fail", "skip"]
WEBHOOK_PATH = "/line/webhook"
CLOCK_WARN_SECONDS = 5.0
CLOCK_FAIL_SECONDS = 60.0
QUOTA_WARN_SHARE = 0.9


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"


@dataclass
class _Context:
    settings: Settings
    line_headers: dict[str, str] | None = None
    client: Any = None
    api: Any = None


def run_checks(settings: Settings, now: Callable[[], datetime] = utcnow) -> list[Check]:
    """Every check, in the order an operator would fix them."""
    context = _Context(settings)
    checks: list[tuple[str, Callable[[_Context], Check]]] = [
        ("configuration", _configuration),
        ("database", _database),
        ("LINE channel", _line_token),
        ("LINE quota", _quota),
        ("webhook", _webhook),
        ("garbage department", _garbage_department),
    ]
    results = []
    for name, check in checks:
        try:
            results.append(check(context))
        except Exception as exc:  # one broken part (LINE unreachable) must not hide the rest
            results.append(Check(name, "fail", _describe(exc)))
    results.append(_clock(context, now()))
    if context.client is not None:
        context.client.close()
    return results


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    text = (str(getattr(exc, "reason", "") or exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}{f' {status}' if status else ''}: {text}"[:300]


def _configuration(context: _Context) -> Check:
    settings = context.settings
    notes = [
        f"{len(settings.residents.districts)} districts, {len(settings.residents.languages)} "
        f"languages, time zone {settings.timezone}"
    ]
    if settings.line.uses_sandbox:
        return Check("configuration", "warn", "; ".join(
            [*notes, "no line.channel_access_token: messages go to the LINE sandbox"]))
    if not settings.line.channel_secret.get_secret_value():
        return Check("configuration", "fail",
                     "line.channel_secret is empty: webhook calls cannot be verified")
    return Check("configuration", "ok", "; ".join(notes))


def _database(context: _Context) -> Check:
    from broadcaster.db import make_engine, pending_migrations

    engine = make_engine(context.settings.resolved_database_url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        pending = pending_migrations(engine)
    except sa.exc.SQLAlchemyError as exc:
        return Check("database", "fail", f"cannot reach {where}: {_describe(exc)}")
    finally:
        engine.dispose()
    if pending:
        return Check("database", "fail", f"{len(pending)} migration(s) pending at {where}; "
                     "run `broadcaster db upgrade`")
    return Check("database", "ok", f"reachable and migrated ({where})")


def _api(context: _Context) -> Any:
    """The SDK's client for the configured channel, one per run of the checks."""
    if context.api is None:
        from linebot.v3.messaging import ApiClient, MessagingApi

        from broadcaster.line_client import configuration

        context.client = ApiClient(configuration(context.settings.line))
        context.api = MessagingApi(context.client)
    return context.api


def _line_token(context: _Context) -> Check:
    if context.settings.line.uses_sandbox:
        return Check("LINE channel", "skip", "no channel token set (the sandbox stands in)")
    response = _api(context).get_bot_info_with_http_info()
    context.line_headers = {k.lower(): v for k, v in (response.headers or {}).items()}
    info = response.data
    return Check("LINE channel", "ok",
                 f"token valid: {info.display_name} ({info.basic_id}), chat mode {info.chat_mode}")


def _quota(context: _Context) -> Check:
    if context.settings.line.uses_sandbox:
        return Check("LINE quota", "skip", "no channel token set")
    api = _api(context)
    quota = api.get_message_quota()
    used = api.get_message_quota_consumption().total_usage
    if quota.type != "limited" or quota.value is None:
        return Check("LINE quota", "ok", f"{used} message(s) used this month, no monthly limit")
    share = used / quota.value if quota.value else 1.0
    status: Status = "warn" if share >= QUOTA_WARN_SHARE else "ok"
    return Check("LINE quota", status, f"{used} of {quota.value} message(s) used this month")


def _webhook(context: _Context) -> Check:
    settings = context.settings
    if settings.line.uses_sandbox:
        return Check("webhook", "skip", "no channel token set (the sandbox sends to us directly)")
    public = settings.server.public_url.rstrip("/")
    endpoint = _api(context).get_webhook_endpoint()
    if not endpoint.active:
        return Check("webhook", "fail",
                     f"\"Use webhook\" is off in the LINE console (endpoint {endpoint.endpoint!r})")
    if not public:
        return Check("webhook", "warn",
                     f"LINE sends to {endpoint.endpoint}; set server.public_url to check it is us")
    expected = public + WEBHOOK_PATH
    if endpoint.endpoint.rstrip("/") != expected:
        return Check("webhook", "fail",
                     f"LINE sends to {endpoint.endpoint}, not {expected} (server.public_url)")
    return Check("webhook", "ok", f"set to {expected} and on")


def _garbage_department(context: _Context) -> Check:
    from sqlmodel import Session, select

    from broadcaster.db import make_engine
    from broadcaster.garbage.models import CollectionDay
    from broadcaster.garbage.reminders import garbage_department

    settings = context.settings
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            department = garbage_department(session, settings)
            calendar = session.exec(select(CollectionDay.id).limit(1)).first() is not None
    except sa.exc.SQLAlchemyError as exc:
        return Check("garbage department", "skip", f"database not ready ({_describe(exc)})")
    finally:
        engine.dispose()
    name = settings.garbage.department
    if department is not None:
        return Check("garbage department", "ok", f"{name} exists")
    fix = f"`broadcaster department add {name}`"
    if calendar:
        return Check("garbage department", "fail",
                     f"{name} (garbage.department) does not exist, so no reminder goes out; {fix}")
    return Check("garbage department", "warn",
                 f"{name} does not exist yet; create it before importing a calendar: {fix}")


def _clock(context: _Context, now: datetime) -> Check:
    """This machine's clock against LINE's (the Date header of its answer)."""
    stamp = (context.line_headers or {}).get("date")
    if stamp is None:
        return Check("clock", "skip", "no answer from LINE to compare with")
    try:
        theirs = parsedate_to_datetime(stamp)
    except (TypeError, ValueError):
        return Check("clock", "skip", f"LINE's Date header {stamp!r} is not a date")
    skew = (now - theirs).total_seconds()
    status: Status = "ok"
    if abs(skew) >= CLOCK_FAIL_SECONDS:
        status = "fail"
    elif abs(skew) >= CLOCK_WARN_SECONDS:
        status = "warn"
    return Check("clock", status, f"{skew:+.0f} s from LINE's clock (scheduled sends use it)")
