"""Follow, block and re-follow through the sandbox, including late and out-of-order events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from broadcaster.sandbox.testing import SandboxThread, free_port
from segments.follow import FollowResult, apply_follow, apply_unfollow, new_resident
from segments.residents import FollowState
from tests.conftest import line_user_id
from tests.webhook.conftest import LineUser, quick_labels
from tests.webhook.test_enrollment import interests_of, resident_of

T = datetime(2026, 4, 1, 9, tzinfo=UTC)


def test_block_keeps_the_record_and_refollow_restores_choices_and_counts(
    make_user: Callable[[str], LineUser], engine: Engine
) -> None:
    user = make_user(line_user_id(10))
    zone = user.tap(user.follow(), "山間")
    reminder = user.tap(zone, "C")
    interests = user.tap(user.tap(reminder, "前日19時"), "防災")
    user.tap(interests, "完了")
    user.send("unfollow")
    blocked = resident_of(engine, user.user_id)
    assert blocked is not None
    assert blocked.follow_state == FollowState.blocked and blocked.blocked_at is not None
    assert blocked.enrollment_step is None

    user.send("follow", is_unblocked=True)
    welcome_back = user.wait_reply()
    assert "おかえりなさい" in welcome_back[0]["text"]
    assert "地区: 山間" in welcome_back[0]["text"]
    assert quick_labels(welcome_back) == ["設定を変更する"]
    again = resident_of(engine, user.user_id)
    assert again is not None and again.id == blocked.id
    assert again.follow_state == FollowState.following
    assert again.follow_count == 2
    assert again.refollowed_at is not None and again.refollowed_at > again.blocked_at  # type: ignore[operator]
    assert (again.district, again.garbage_zone, again.reminder_timing) == ("山間", "C", "eve")
    assert interests_of(engine, again.id) == {"防災"}


def test_follow_arriving_after_a_newer_unfollow_does_not_undo_the_block(
    make_user: Callable[[str], LineUser], engine: Engine
) -> None:
    user = make_user(line_user_id(11))
    # The follow's first delivery fails (our service was unreachable)...
    dead = f"http://127.0.0.1:{free_port()}/line/webhook"
    follow = user.sandbox.send_webhook(type="follow", user_id=user.user_id, url=dead)
    assert follow["status"] is None
    # ...the resident blocks us, and only then does LINE redeliver the older follow.
    user.send("unfollow")
    redelivered = user.redeliver(follow["event"])
    assert redelivered["status"] == 200
    assert redelivered["event"]["deliveryContext"]["isRedelivery"] is True

    resident = resident_of(engine, user.user_id)
    assert resident is not None
    assert resident.follow_state == FollowState.blocked
    assert resident.follow_count == 1
    assert resident.followed_at is not None and resident.blocked_at is not None
    assert resident.followed_at < resident.blocked_at
    user.no_more_replies()  # no welcome to someone who has blocked us


def test_late_unfollow_does_not_block_a_newer_refollow() -> None:
    resident = new_resident(line_user_id(12), now=T)
    assert apply_follow(resident, T, now=T) is FollowResult.new
    assert apply_follow(resident, T + timedelta(hours=2), now=T) is FollowResult.returning
    assert apply_unfollow(resident, T + timedelta(hours=1), now=T) is False
    assert resident.follow_state == FollowState.following
    assert resident.follow_count == 2
    assert resident.blocked_at == T + timedelta(hours=1)
    assert apply_unfollow(resident, T + timedelta(hours=3), now=T) is True
    assert resident.follow_state == FollowState.blocked


def test_first_follow_arriving_last_becomes_the_first_follow() -> None:
    resident = new_resident(line_user_id(13), now=T)
    assert apply_follow(resident, T + timedelta(hours=2), now=T) is FollowResult.new
    assert apply_follow(resident, T, now=T) is FollowResult.stale
    assert (resident.followed_at, resident.refollowed_at, resident.follow_count) == (
        T, T + timedelta(hours=2), 2)
    assert resident.follow_state == FollowState.following


def test_message_before_follow_event_counts_the_follow_once(
    make_user: Callable[[str], LineUser], engine: Engine, sandbox: SandboxThread
) -> None:
    user = make_user(line_user_id(14))
    user.send("message", text="配信設定")
    assert "お住まいの地区" in user.wait_reply()[-1]["text"]
    user.send("follow")
    user.wait_reply()
    resident = resident_of(engine, user.user_id)
    assert resident is not None
    assert resident.follow_state == FollowState.following and resident.follow_count == 1
