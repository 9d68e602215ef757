"""`broadcaster demo`: a small demo town, so a newcomer sees a living console at once.

Everything goes through the same functions the API and imports use (departments and
tokens, the calendar importer, the shelter CSV parser, `create_broadcast` with its checks
and audit entries), so the demo shows the real system and cannot drift from it. Residents
are written directly: in real life they arrive through LINE's follow and the conversation
(`broadcaster sandbox resident …` plays that), which would take minutes for forty people.

Demo residents' LINE ids start with `Ude70` ("demo"), so they are easy to tell apart and
the sandbox records what each of them receives.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import cycle

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster import audit
from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_requests import BroadcastRequest
from broadcaster.clock import local
from broadcaster.db import session_scope
from broadcaster.departments import Department, Role, create_department, issue_token
from broadcaster.emergency.shelters import apply_rows, parse_shelter_csv
from broadcaster.garbage.importer import import_calendar
from broadcaster.quiet_hours import next_allowed
from broadcaster.render import Renderer
from broadcaster.settings import Settings
from broadcaster.staff import StaffAccount, hash_password
from segments.residents import Resident, ResidentInterest

DEMO_PREFIX = "Ude70"
DEPARTMENTS: tuple[tuple[str, Role], ...] = (
    ("情報政策課", Role.admin),
    ("危機管理課", Role.disaster_desk),
    ("子育て支援課", Role.department),
)
# A staff account per demo department: (sign-in name, person).
DEMO_STAFF = {
    "情報政策課": ("admin", "高橋 美咲"),
    "危機管理課": ("bosai", "鈴木 次郎"),
    "子育て支援課": ("kosodate", "山田 花子"),
}
GARBAGE_STAFF = ("kankyo", "佐藤 一郎")
# Weekly collection per zone (iCal BYDAY), one of the ways real calendars are published.
ZONE_WEEKS = (
    {"燃やすごみ": "MO,TH", "ペットボトル": "WE", "資源ごみ": "SA"},
    {"燃やすごみ": "TU,FR", "びん・缶": "WE", "資源ごみ": "SA"},
    {"燃やすごみ": "MO,TH", "プラスチック製容器包装": "TU", "古紙": "FR"},
    {"燃やすごみ": "TU,FR", "燃やさないごみ": "TH", "古紙": "MO"},
)


class DemoRefused(Exception):
    """The database is not empty; the demo only fills an empty one."""


@dataclass(frozen=True)
class Notice:
    title: str
    category: str
    text: str
    rule: dict[str, object] | None  # None: every district
    in_minutes: int


NOTICES = (
    Notice("乳幼児健診のお知らせ", "childcare",
           "【子育て支援課】来月の乳幼児健診の日程を市のホームページに掲載しました。",
           {"field": "interests", "op": "contains", "value": "子育て"}, 0),
    Notice("防災訓練のお知らせ", "general",
           "【危機管理課】今度の日曜日、市内全域で防災訓練を行います。",
           None, 1),
    Notice("市民まつりのお知らせ", "events",
           "【情報政策課】市民まつりを中央公園で開きます。ぜひお越しください。",
           {"field": "interests", "op": "contains", "value": "イベント"}, 24 * 60),
)


def demo_user_id(n: int) -> str:
    return f"{DEMO_PREFIX}{n:028x}"


def build_demo(engine: Engine, settings: Settings, actor: str, now: datetime) -> list[str]:
    """Fill an empty database with the demo town; returns the lines to print."""
    with session_scope(engine) as session:
        if session.exec(select(Resident.id).limit(1)).first() is not None:
            raise DemoRefused(
                "the database already has residents; the demo fills an empty one only "
                "(try BROADCASTER_DATA_DIR=demo-data make demo)"
            )
        tokens = _departments(session, settings, actor, now)
        residents = _residents(session, settings, now)
        zones = _calendar(session, settings, actor, now)
        shelters = _shelters(session, settings, actor, now)
        notices = _notices(session, settings, tokens, now)
        password = secrets.token_urlsafe(12)
        logins = _accounts(session, settings, tokens, password, actor, now)
    base = f"http://{settings.server.host}:{settings.server.port}"
    lines = [
        f"demo town ready: {residents} residents in {len(settings.residents.districts)} "
        f"districts and {len(settings.residents.languages)} languages, calendars for zones "
        f"{', '.join(zones)}, {shelters} shelters, {notices} notices queued",
        f"sign in at {base}/console as one of these, password {password} (shown once):",
    ]
    lines += [f"  {name}: {login}" for name, login in logins.items()]
    lines += ["API tokens for scripts (shown once):"]
    lines += [f"  {name}: {token}" for name, (_, token) in tokens.items()]
    sandbox = f"http://{settings.sandbox.host}:{settings.sandbox.port}/_sandbox"
    lines += [
        f"what residents received (when `make run` is up): {sandbox}",
        f"play one of them: .venv/bin/broadcaster sandbox resident say {demo_user_id(1)} ごみ",
    ]
    return lines


def _departments(
    session: Session, settings: Settings, actor: str, now: datetime
) -> dict[str, tuple[int, str]]:
    """Each demo department (and the garbage department) with a fresh token."""
    wanted = [*DEPARTMENTS, (settings.garbage.department, Role.department)]
    issued: dict[str, tuple[int, str]] = {}
    for name, role in wanted:
        existing = session.exec(select(Department).where(Department.name == name)).first()
        if existing is None:
            department, token = create_department(session, name, role, now)
            action = "department.create"
        else:
            department = existing
            _, token = issue_token(session, existing, now)
            action = "token.issue"
        assert department.id is not None
        audit.record(
            session, at=now, actor=actor, action=action, entity="department",
            entity_id=department.id, after={"name": name, "role": department.role, "demo": True},
        )
        issued[name] = (department.id, token)
    return issued


def _accounts(
    session: Session,
    settings: Settings,
    tokens: dict[str, tuple[int, str]],
    password: str,
    actor: str,
    now: datetime,
) -> dict[str, str]:
    """A staff account in each demo department, all with `password`; department -> login."""
    people = {**DEMO_STAFF, settings.garbage.department: GARBAGE_STAFF}
    password_hash = hash_password(password)  # one hash: Argon2 takes a while each time
    logins: dict[str, str] = {}
    for name, (department_id, _) in tokens.items():
        login, person = people[name]
        if session.exec(select(StaffAccount.id).where(StaffAccount.login == login)).first():
            continue
        account = StaffAccount(
            department_id=department_id, login=login, name=person,
            password_hash=password_hash, created_at=now,
        )
        session.add(account)
        session.flush()
        audit.record(
            session, at=now, actor=actor, action="staff.create", entity="staff_account",
            entity_id=account.id, department_id=department_id,
            after={"login": login, "name": person, "demo": True},
        )
        logins[name] = login
    return logins


def _residents(session: Session, settings: Settings, now: datetime) -> int:
    """One resident per district and language, interests and zones spread over them."""
    config = settings.residents
    interests = cycle(config.interests)
    zones = cycle(config.zones)
    timings = cycle(settings.garbage.timings)
    n = 0
    for district in config.districts:
        for language in config.languages:
            n += 1
            resident = Resident(
                line_user_id=demo_user_id(n), district=district, garbage_zone=next(zones),
                language=language, reminder_timing=next(timings), followed_at=now,
                created_at=now, updated_at=now,
            )
            session.add(resident)
            session.flush()
            assert resident.id is not None
            for interest in {next(interests), next(interests)}:
                session.add(ResidentInterest(resident_id=resident.id, interest=interest))
    return n


def _calendar(session: Session, settings: Settings, actor: str, now: datetime) -> list[str]:
    start = local(now, settings.tz).date()
    zones = settings.residents.zones
    for zone, week in zip(zones, cycle(ZONE_WEEKS), strict=False):
        import_calendar(
            session, _ical(zone, week, start), settings=settings, now=now, actor=actor,
            source="demo", zone=zone,
        )
    return list(zones)


def _ical(zone: str, week: dict[str, str], start: date) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//broadcaster//demo//JA"]
    for n, (summary, days) in enumerate(week.items()):
        lines += [
            "BEGIN:VEVENT",
            f"UID:demo-{zone}-{n}@broadcaster",
            f"SUMMARY:{summary}",
            f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
            f"RRULE:FREQ=WEEKLY;BYDAY={days};UNTIL={start + timedelta(days=365):%Y%m%d}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def _shelters(session: Session, settings: Settings, actor: str, now: datetime) -> int:
    """Two shelters per district, as a city's 指定緊急避難場所 CSV would list them."""
    column = settings.emergency.shelter_district_column
    rows = [f"名称,住所,緯度,経度,{column},洪水,地震,収容人数"]
    for n, district in enumerate(settings.residents.districts):
        for m, kind in enumerate(("小学校", "公民館")):
            rows.append(
                f"{district}{kind},{district}町{m + 1}-{n + 1},{33.58 + n * 0.01:.4f},"
                f"{130.40 + m * 0.01:.4f},{district},1,1,{300 - m * 150}"
            )
    parsed = parse_shelter_csv(
        "\n".join(rows) + "\n",
        districts=settings.residents.districts,
        district_column=column,
        district_values={},
    )
    result = apply_rows(session, parsed, now)
    audit.record(
        session, at=now, actor=actor, action="shelter.import", entity="shelter",
        after={"file": "demo", "created": result.created, "updated": result.updated},
    )
    return result.created + result.updated


def _notices(
    session: Session, settings: Settings, tokens: dict[str, tuple[int, str]], now: datetime
) -> int:
    """A few notices, through the same checks as the API; the running service sends them."""
    renderer = Renderer.from_settings(settings)
    senders = ("子育て支援課", "危機管理課", "情報政策課")
    for notice, sender in zip(NOTICES, senders, strict=True):
        department_id, _ = tokens[sender]
        # Outside quiet hours, as the API would insist: at night they wait for the morning.
        send_at = next_allowed(
            now + timedelta(minutes=notice.in_minutes), settings.quiet_hours, settings.tz
        )
        request = BroadcastRequest(
            title=notice.title, category=notice.category, template_text=notice.text,
            rule=notice.rule or {
                "field": "district", "op": "in", "value": list(settings.residents.districts)
            },
            send_at=send_at,
        )
        create_broadcast(session, f"{sender} (demo)", department_id, request, settings,
                         renderer, now)
    return len(NOTICES)
