"""LINE's statistics endpoints in the sandbox: per-unit open and click figures, the units
used this month, and the follower count.

The sandbox cannot see anyone open a message, so a test (or a person) says who did with
`POST /_sandbox/insight/events {"unit", "opened": [user ids], "clicked": [user ids]}`
(ids in the body, never in a URL). Figures follow LINE's rules as documented: any figure
of fewer than 20 users is null; the insight endpoints share 60 requests an hour; a unit
name is `^[a-zA-Z0-9_]{1,30}$`; the period is at most 30 days (yyyyMMdd, UTC+9); only the
first 1,000 units used in a month are assigned (later ones are silently not).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broadcaster.sandbox import errors

if TYPE_CHECKING:
    from broadcaster.sandbox.server import LineApi

MIN_USERS = 20
MAX_PERIOD_DAYS = 30
UNITS_PER_MONTH = 1000
UNIT_NAME = re.compile(r"^[a-zA-Z0-9_]{1,30}$")
JST = dt.timezone(dt.timedelta(hours=9))


class InsightState:
    """Who opened and clicked what, by aggregation unit."""

    def __init__(self) -> None:
        self.opened: dict[str, set[str]] = {}
        self.clicked: dict[str, set[str]] = {}

    def reset(self) -> None:
        self.opened.clear()
        self.clicked.clear()

    def record(self, unit: str, opened: Iterable[str], clicked: Iterable[str]) -> None:
        clicked = set(clicked)
        # A click opens the message first.
        self.opened.setdefault(unit, set()).update(set(opened) | clicked)
        self.clicked.setdefault(unit, set()).update(clicked)


def _figure(users: int) -> int | None:
    return users if users >= MIN_USERS else None


def _day(value: str | None) -> dt.date | None:
    if value is None or not re.fullmatch(r"\d{8}", value):
        return None
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return None


def month_units(api: LineApi, now: float) -> list[str]:
    """The units assigned this month (JST), in first-use order, at most 1,000."""
    local = dt.datetime.fromtimestamp(now, JST)
    start = dt.datetime(local.year, local.month, 1, tzinfo=JST).timestamp()
    seen: dict[str, None] = {}
    for unit in api.state.records.units_since(start):
        if len(seen) >= UNITS_PER_MONTH:
            break
        seen.setdefault(unit, None)
    return list(seen)


def insight_routes(api: LineApi) -> list[Route]:
    state = api.state

    async def _guarded(request: Request, bucket: str, name: str) -> tuple[str, Response | None]:
        return await api._simple(request, bucket, name)

    def _bad(request_id: str, name: str, message: str, prop: str) -> Any:
        api._log(name, 400, request_id, None)
        return api._respond(
            request_id, 400, errors.error_body(message, [errors.Problem(message, prop)])
        )

    async def unit_statistics(request: Request) -> Response:
        name = "insight/message/event/aggregation"
        request_id, early = await _guarded(request, "insight", name)
        if early:
            return early
        params = request.query_params
        unit = params.get("customAggregationUnit")
        if unit is None or not UNIT_NAME.fullmatch(unit):
            return await _bad(request_id, name, "Invalid customAggregationUnit",
                              "customAggregationUnit")
        start, end = _day(params.get("from")), _day(params.get("to"))
        if start is None:
            return await _bad(request_id, name, "Invalid from (yyyyMMdd)", "from")
        if end is None or end < start or (end - start).days > MAX_PERIOD_DAYS:
            return await _bad(request_id, name,
                              f"Invalid to (yyyyMMdd, at most {MAX_PERIOD_DAYS} days after from)",
                              "to")
        assigned = unit in month_units(api, time.time()) or unit in state.insight.opened
        opened = len(state.insight.opened.get(unit, ())) if assigned else 0
        clicked = len(state.insight.clicked.get(unit, ())) if assigned else 0
        body = {
            "overview": {
                "uniqueImpression": _figure(opened),
                "uniqueClick": _figure(clicked),
                "uniqueMediaPlayed": None,
                "uniqueMediaPlayed100Percent": None,
            },
            "messages": [
                {"seq": 1, "impression": _figure(opened), "uniqueImpression": _figure(opened),
                 "mediaPlayed": None, "uniqueMediaPlayed": None}
            ] if assigned else [],
            "clicks": [],
        }
        api._log(name, 200, request_id, None)
        return await api._respond(request_id, 200, body)

    async def followers(request: Request) -> Response:
        name = "insight/followers"
        request_id, early = await _guarded(request, "insight", name)
        if early:
            return early
        day = _day(request.query_params.get("date"))
        if day is None:
            return await _bad(request_id, name, "Invalid date (yyyyMMdd)", "date")
        today = dt.datetime.now(JST).date()
        residents = state.residents
        if day > today:
            body: dict[str, Any] = {"status": "unready"}
        else:
            following = len(residents.followers)
            body = {
                "status": "ready",
                # LINE: users who ever added the account; it does not fall when they block.
                "followers": following + len(residents.blocked),
                "targetedReaches": _figure(following),
                "blocks": len(residents.blocked),
            }
        api._log(name, 200, request_id, None)
        return await api._respond(request_id, 200, body)

    async def unit_usage(request: Request) -> Response:
        name = "aggregation/info"
        request_id, early = await _guarded(request, "quota", name)
        if early:
            return early
        api._log(name, 200, request_id, None)
        count = len(month_units(api, time.time()))
        return await api._respond(request_id, 200, {"numOfCustomAggregationUnits": count})

    async def unit_list(request: Request) -> Response:
        name = "aggregation/list"
        request_id, early = await _guarded(request, "quota", name)
        if early:
            return early
        limit_raw = request.query_params.get("limit", "100")
        start_raw = request.query_params.get("start", "0")
        if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= 100:
            return await _bad(request_id, name, "Invalid limit (1-100)", "limit")
        if not start_raw.isdigit():
            return await _bad(request_id, name, "Invalid start", "start")
        units = month_units(api, time.time())
        first, limit = int(start_raw), int(limit_raw)
        body: dict[str, Any] = {"customAggregationUnits": units[first : first + limit]}
        if first + limit < len(units):
            body["next"] = str(first + limit)
        api._log(name, 200, request_id, None)
        return await api._respond(request_id, 200, body)

    async def record_events(request: Request) -> JSONResponse:
        """`/_sandbox/insight/events`: say who opened and clicked a unit's message."""
        import json

        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"message": "body must be JSON"}, status_code=400)
        unit = data.get("unit") if isinstance(data, dict) else None
        if not isinstance(unit, str) or not UNIT_NAME.fullmatch(unit):
            return JSONResponse({"message": "unit: required, ^[a-zA-Z0-9_]{1,30}$"},
                                status_code=400)
        opened, clicked = data.get("opened", []), data.get("clicked", [])
        if not all(isinstance(v, list) and all(isinstance(u, str) for u in v)
                   for v in (opened, clicked)):
            return JSONResponse({"message": "opened, clicked: lists of user ids"},
                                status_code=400)
        state.insight.record(unit, opened, clicked)
        return JSONResponse({"unit": unit, "opened": len(state.insight.opened[unit]),
                             "clicked": len(state.insight.clicked[unit])})

    return [
        Route("/v2/bot/insight/message/event/aggregation", unit_statistics, methods=["GET"]),
        Route("/v2/bot/insight/followers", followers, methods=["GET"]),
        Route("/v2/bot/message/aggregation/info", unit_usage, methods=["GET"]),
        Route("/v2/bot/message/aggregation/list", unit_list, methods=["GET"]),
        Route("/_sandbox/insight/events", record_events, methods=["POST"]),
    ]


__all__ = ["InsightState", "insight_routes"]
