"""The pure parts: fiscal years, the friends series, block attribution, suppression."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from broadcaster.kpis import fiscal
from broadcaster.kpis.blocks import Block, Received, attribute
from broadcaster.kpis.friends import daily_series
from broadcaster.kpis.models import FriendEventKind
from broadcaster.kpis.suppression import shown, shown_average

TOKYO = ZoneInfo("Asia/Tokyo")
FOLLOW, UNFOLLOW = FriendEventKind.follow, FriendEventKind.unfollow


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO).astimezone(UTC)  # type: ignore[misc]


def test_the_fiscal_year_turns_at_midnight_on_april_first_in_tokyo() -> None:
    assert fiscal.fiscal_year(date(2027, 3, 31)) == 2026
    assert fiscal.fiscal_year(date(2027, 4, 1)) == 2027
    start, end = fiscal.bounds(2026, TOKYO)
    assert start == datetime(2026, 3, 31, 15, tzinfo=UTC)
    assert end == datetime(2027, 3, 31, 15, tzinfo=UTC)
    # 23:30 on 31 March in Tokyo is 14:30 UTC: still FY2026; half past midnight is FY2027.
    assert fiscal.fiscal_year_at(jst(2027, 3, 31, 23, 30), TOKYO) == 2026
    assert fiscal.fiscal_year_at(jst(2027, 4, 1, 0, 30), TOKYO) == 2027
    assert fiscal.months(2026)[0] == "2026-04" and fiscal.months(2026)[-1] == "2027-03"


def test_friends_series_counts_follows_blocks_and_refollows_on_their_own_days() -> None:
    histories = [
        # Followed, blocked two days later, came back: one friend, one block, one re-follow.
        [
            (jst(2026, 4, 1, 9), FOLLOW),
            (jst(2026, 4, 3, 9), UNFOLLOW),
            (jst(2026, 4, 4, 9), FOLLOW),
        ],
        # Arrived out of order: the series orders by when it happened.
        [(jst(2026, 4, 2, 23, 59), UNFOLLOW), (jst(2026, 4, 2, 8), FOLLOW)],
        # Followed before the period: part of the first day's count, not a new friend.
        [(jst(2026, 3, 20, 9), FOLLOW)],
    ]
    days = daily_series(histories, date(2026, 4, 1), date(2026, 4, 4), TOKYO)
    assert [d.friends for d in days] == [2, 2, 1, 2]
    assert [d.new_friends for d in days] == [1, 1, 0, 0]
    assert [d.blocks for d in days] == [0, 1, 1, 0]
    assert [d.refollows for d in days] == [0, 0, 0, 1]


def test_a_block_is_attributed_to_the_last_broadcast_received_within_the_window() -> None:
    at = jst(2026, 6, 1, 12)
    blocks = [Block(1, at), Block(2, at), Block(3, at)]
    received = [
        Received(1, 10, at - timedelta(hours=30)),  # too early
        Received(1, 11, at - timedelta(hours=2)),  # the last before the block
        Received(1, 12, at + timedelta(hours=1)),  # after the block: not the cause
        Received(2, 10, at - timedelta(hours=25)),
    ]
    attributed, unattributed = attribute(blocks, received, timedelta(hours=24))
    assert attributed == {11: 1}
    assert unattributed == 2


def test_small_counts_and_averages_over_few_answers_are_not_shown() -> None:
    assert shown(19, 20) == "< 20" and shown(0, 20) == "< 20" and shown(20, 20) == 20
    assert shown_average(3 * 19, 19, 20) is None
    assert shown_average(90, 20, 20) == 4.5
