"""LINE's own statistics, fetched with the SDK's insight client and kept beside ours.

Our sends carry one `customAggregationUnits` name per broadcast (`b<id>`, set by the
sender), so LINE can tell us how many recipients opened each broadcast and clicked a link
in it. LINE answers null below 20 users (kept as None, shown as not available), keeps
updating a unit's figures for 14 days, and allows 60 insight requests an hour: one run
fetches at most `max_requests` and stops at the first 429, leaving the rest for the next.
The follower count is LINE's (users who ever added the account, and blocks), compared in
the report with ours.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

import urllib3.exceptions
from linebot.v3.insight import ApiClient, ApiException, Configuration, Insight
from linebot.v3.messaging import ApiClient as MessagingClient
from linebot.v3.messaging import ApiException as MessagingApiException
from linebot.v3.messaging import MessagingApi
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcaster.clock import local
from broadcaster.db import session_scope
from broadcaster.kpis.deliveries import SentBroadcast, sent_broadcasts
from broadcaster.kpis.models import FollowerStatistic, UnitStatistic
from broadcaster.line_client import configuration
from broadcaster.settings import LineSettings, Settings

log = logging.getLogger(__name__)

UPDATE_DAYS = 14  # LINE keeps updating a unit's figures this long after sending
MAX_PERIOD_DAYS = 30  # the longest from..to LINE accepts
UNITS_PER_MONTH = 1000


def unit_name(broadcast_id: int) -> str:
    """The aggregation unit our sender puts on every request of a broadcast."""
    return f"b{broadcast_id}"


def _insight_configuration(line: LineSettings) -> Configuration:
    messaging = configuration(line)
    config = Configuration(host=messaging.host, access_token=messaging.access_token)
    config.retries = 0
    return config


def _yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")


@dataclass(frozen=True, slots=True)
class FetchResult:
    fetched: int
    remaining: int
    # Stopped by LINE's rate limit (or LINE unreachable): the rest waits for the next run.
    rate_limited: bool


def due_for_fetch(sent: Sequence[SentBroadcast], now: datetime) -> list[SentBroadcast]:
    """Broadcasts LINE may still be updating figures for (sent in the last 14 days),
    newest first: those are the ones a run should not miss."""
    since = now - timedelta(days=UPDATE_DAYS)
    return sorted(
        (s for s in sent if s.first_accepted_at >= since),
        key=lambda s: s.first_accepted_at,
        reverse=True,
    )


def fetch_unit_statistics(
    session: Session,
    line: LineSettings,
    broadcasts: Sequence[SentBroadcast],
    tz: tzinfo,
    now: datetime,
    *,
    max_requests: int = 50,
) -> FetchResult:
    """Fetch and store LINE's per-unit figures for `broadcasts` (at most `max_requests`)."""
    fetched = 0
    today = now.astimezone(tz).date()
    with ApiClient(_insight_configuration(line)) as client:
        api = Insight(client)
        for item in broadcasts[:max_requests]:
            start = item.first_accepted_at.astimezone(tz).date()
            end = min(today, start + timedelta(days=MAX_PERIOD_DAYS))
            unit = unit_name(item.broadcast_id)
            try:
                answer = api.get_statistics_per_unit(
                    unit, _yyyymmdd(start), _yyyymmdd(end),
                    _request_timeout=line.request_timeout_seconds,
                )
            except ApiException as exc:
                if exc.status == 429:
                    break
                log.warning("insight for %s refused: %s %s", unit, exc.status, exc.body)
                continue
            except urllib3.exceptions.HTTPError as exc:
                log.warning("insight for %s not reached: %s", unit, exc)
                break
            overview = answer.overview
            row = session.get(UnitStatistic, item.broadcast_id) or UnitStatistic(
                broadcast_id=item.broadcast_id, unit=unit, fetched_at=now
            )
            row.unique_impression = overview.unique_impression
            row.unique_click = overview.unique_click
            row.unique_media_played = overview.unique_media_played
            row.fetched_at = now
            session.add(row)
            fetched += 1
        else:
            session.flush()
            return FetchResult(fetched, len(broadcasts) - fetched, False)
    session.flush()
    return FetchResult(fetched, len(broadcasts) - fetched, True)


def fetch_followers(
    session: Session, line: LineSettings, day: date, now: datetime
) -> FollowerStatistic | None:
    """LINE's follower figures for `day` (None when LINE refuses, e.g. rate-limited)."""
    with ApiClient(_insight_configuration(line)) as client:
        try:
            answer = Insight(client).get_number_of_followers(
                _yyyymmdd(day), _request_timeout=line.request_timeout_seconds
            )
        except ApiException as exc:
            log.warning("insight followers refused: %s %s", exc.status, exc.body)
            return None
        except urllib3.exceptions.HTTPError as exc:
            log.warning("insight followers not reached: %s", exc)
            return None
    key = _yyyymmdd(day)
    row = session.get(FollowerStatistic, key) or FollowerStatistic(
        day=key, status="", fetched_at=now
    )
    row.status = str(answer.status or "")
    row.followers = answer.followers
    row.targeted_reaches = answer.targeted_reaches
    row.blocks = answer.blocks
    row.fetched_at = now
    session.add(row)
    session.flush()
    return row


def units_used_this_month(line: LineSettings) -> int | None:
    """How many aggregation units LINE counted this month (of 1,000), or None if LINE
    cannot be asked."""
    with MessagingClient(configuration(line)) as client:
        try:
            answer = MessagingApi(client).get_aggregation_unit_usage(
                _request_timeout=line.request_timeout_seconds
            )
        except MessagingApiException as exc:
            log.warning("aggregation unit usage refused: %s %s", exc.status, exc.body)
            return None
    return int(answer.num_of_custom_aggregation_units)


def fetch_recent(engine: Engine, settings: Settings, now: datetime) -> dict[str, object]:
    """One run (the hourly job and the API's "fetch now"): figures for the broadcasts of
    the last 14 days, then yesterday's follower count if LINE still answers."""
    with session_scope(engine) as session:
        sent = sent_broadcasts(session, now - timedelta(days=UPDATE_DAYS), now)
        result = fetch_unit_statistics(
            session, settings.line, due_for_fetch(sent, now), settings.tz, now
        )
    followers: dict[str, object] | None = None
    if not result.rate_limited:
        yesterday = local(now, settings.tz).date() - timedelta(days=1)
        with session_scope(engine) as session:
            row = fetch_followers(session, settings.line, yesterday, now)
            if row is not None:
                followers = {
                    "day": row.day,
                    "status": row.status,
                    "followers": row.followers,
                    "targeted_reaches": row.targeted_reaches,
                    "blocks": row.blocks,
                }
    return {
        "fetched": result.fetched,
        "remaining": result.remaining,
        "rate_limited": result.rate_limited,
        "followers": followers,
    }
