"""Follow, block (unfollow) and re-follow, ordered by when they happened, not when they arrived.

LINE may deliver webhook events late and out of order, so each event is a fact with a time:
`followed_at` is the first follow, `refollowed_at` the latest later follow, `blocked_at` the
latest block, `follow_count` the number of follows. The follow state is decided by the newest
of those facts, so an older event arriving late adds to the history but never undoes a newer
one. A resident is never deleted, and a re-follow keeps the old choices.

These functions change a Resident in memory only; the caller stores it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from segments.residents import FollowState, Resident


class FollowResult(StrEnum):
    new = "new"            # first follow, now following
    returning = "returning"  # a later follow, now following again
    stale = "stale"        # recorded, but a newer event decides the state


def last_state_change(resident: Resident) -> datetime | None:
    """When the newest follow or block we know of happened."""
    times = [t for t in (resident.followed_at, resident.refollowed_at, resident.blocked_at) if t]
    return max(times) if times else None


def new_resident(line_user_id: str, *, now: datetime) -> Resident:
    """A record for a user we have not seen, before any follow/block fact is applied.

    A user who writes to us before their follow event arrives keeps this record as is
    (following, no follow counted yet); the follow, when it comes, counts as the first.
    """
    return Resident(
        line_user_id=line_user_id,
        follow_state=FollowState.following,
        follow_count=0,
        created_at=now,
        updated_at=now,
    )


def apply_follow(resident: Resident, at: datetime, *, now: datetime) -> FollowResult:
    """Record a follow at `at`; the resident follows again unless a newer event stands."""
    latest = last_state_change(resident)
    if resident.followed_at is None:
        resident.followed_at = at
        # This is the first follow we learn of: a record created by an early block counts 0,
        # one imported by staff already counts this follow.
        resident.follow_count = max(resident.follow_count, 1)
    elif at < resident.followed_at:
        # The first follow arrived after a later one: it becomes the first.
        earlier_first = resident.followed_at
        resident.refollowed_at = max(resident.refollowed_at or earlier_first, earlier_first)
        resident.followed_at = at
        resident.follow_count += 1
    else:
        resident.refollowed_at = max(resident.refollowed_at or at, at)
        resident.follow_count += 1
    resident.updated_at = now
    if latest is not None and at <= latest:
        return FollowResult.stale
    resident.follow_state = FollowState.following
    return FollowResult.returning if resident.follow_count > 1 else FollowResult.new


def apply_unfollow(resident: Resident, at: datetime, *, now: datetime) -> bool:
    """Record a block at `at`. True if the resident is now blocked (no newer follow stands)."""
    latest = last_state_change(resident)
    resident.blocked_at = max(resident.blocked_at or at, at)
    resident.updated_at = now
    if latest is not None and at <= latest:
        return False
    resident.follow_state = FollowState.blocked
    # An unfinished settings conversation is abandoned; the choices made so far stay.
    resident.enrollment_step = None
    return True
