"""Policies: what a kind of broadcast does differently, registered by its feature at start.

The core (lifecycle, planning, the outbox, delivery, the schedule) imports no feature.
A feature (emergency, benefits, digest, garbage) registers a `Policy` for its kind at
start (`broadcaster.features.register_features`, called by the app, the CLI and the
dispatch process): who it reaches, how it renders, which limits it is exempt from and its
priority. A kind nobody registered behaves as an announcement.

Exemptions are answered by one predicate, `exempt(subject, limit)`, for every limit:
quiet hours, the frequency cap and opt-outs. An emergency (priority) and a broadcast
flagged `bypass_limits` are exempt from all three; `quiet_hours_exempt` (a time the
resident chose) lifts quiet hours only; a kind's policy may add its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from broadcaster.broadcasts import Broadcast, Priority, is_emergency
from broadcaster.render import Renderer
from broadcaster.settings import Settings

Render = Callable[[Mapping[str, Any]], list[dict[str, Any]]]
# (context fields, render) for a broadcast's messages.
Rendering = tuple[tuple[str, ...], Render]


class Limit(StrEnum):
    quiet_hours = "quiet_hours"
    cap = "cap"
    opt_outs = "opt_outs"


class Subject(Protocol):
    """A broadcast or a request for one: what the exemption predicate reads."""

    @property
    def kind(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def bypass_limits(self) -> bool: ...
    @property
    def quiet_hours_exempt(self) -> bool: ...


@dataclass(frozen=True)
class Policy:
    """What a kind changes; every None means "as an announcement".

    `audience(broadcast, settings)`: the whole WHERE over Resident (instead of the stored
    rule). `rendering(session, broadcast, renderer)`: the messages (instead of the
    broadcast's template). `harden(broadcast, render)`: wraps the render, e.g. an
    emergency's fallback text and drill mark. `priority`: the least priority a broadcast
    of this kind gets. `exempt_from`: limits this kind ignores whatever its flags.
    `expires`: False for a kind whose recipients were promised it (a benefit notice):
    sent late rather than expired, held through quiet hours rather than dropped.
    """

    kind: str
    audience: Callable[[Broadcast, Settings], sa.ColumnElement[bool]] | None = None
    rendering: Callable[[Session, Broadcast, Renderer], Rendering] | None = None
    harden: Callable[[Broadcast, Render], Render] | None = None
    priority: int = Priority.normal
    exempt_from: frozenset[Limit] = field(default_factory=frozenset)
    expires: bool = True


class Hold(Protocol):
    """A feature that takes a due broadcast instead of it being sent (the digest folds a
    notice into the day's まとめ配信). Marked at creation, taken when due."""

    def mark(self, session: Session, broadcast: Broadcast) -> None: ...
    def unmark(self, session: Session, broadcast: Broadcast) -> None: ...
    def is_marked(self, broadcast: Broadcast) -> bool: ...
    def take(
        self, session: Session, broadcast: Broadcast, settings: Settings, now: datetime
    ) -> bool:
        """Take the claimed-for-sending broadcast (status still scheduled); False if it
        is not held, and then it is sent as usual."""
        ...

    def check(self, subject: Subject, settings: Settings) -> str | None:
        """Why `subject` may not be held (the refusal text), or None."""
        ...


# Work a feature adds to every scheduler tick (the digest's gathering); returns a count.
Tick = Callable[[Engine, Settings, Renderer, datetime], int]
# Why a due broadcast must wait now (disaster mode: an order in a district it reaches), or
# None. A deferred broadcast is held, not expired, and the feature releases it later.
Deferral = Callable[[Session, Broadcast, Settings, datetime], str | None]

_DEFAULT = Policy(kind="announcement")


@dataclass
class Registry:
    policies: dict[str, Policy] = field(default_factory=dict)
    hold: Hold | None = None
    ticks: dict[str, Tick] = field(default_factory=dict)
    deferrals: dict[str, Deferral] = field(default_factory=dict)


_registry = Registry()


def register(policy: Policy) -> None:
    """Register (or replace: registering again at a restart is harmless) a kind's policy."""
    _registry.policies[policy.kind] = policy


def register_hold(hold: Hold) -> None:
    _registry.hold = hold


def register_tick(name: str, tick: Tick) -> None:
    _registry.ticks[name] = tick


def register_deferral(name: str, deferral: Deferral) -> None:
    _registry.deferrals[name] = deferral


def deferral_reason(
    session: Session, broadcast: Broadcast, settings: Settings, now: datetime
) -> str | None:
    """The first registered reason this broadcast must wait now, or None."""
    for deferral in _registry.deferrals.values():
        reason = deferral(session, broadcast, settings, now)
        if reason:
            return reason
    return None


def policy_for(kind: str) -> Policy:
    return _registry.policies.get(kind, _DEFAULT)


def hold() -> Hold | None:
    """The registered hold (the digest), if any."""
    return _registry.hold


def ticks() -> list[Tick]:
    return list(_registry.ticks.values())


def _exempt_by_flags(subject: Subject, limit: Limit) -> bool:
    if is_emergency(subject.priority) or subject.bypass_limits:
        return True
    return limit is Limit.quiet_hours and subject.quiet_hours_exempt


def exempt(subject: Subject, limit: Limit) -> bool:
    """Whether `subject` ignores `limit`: THE exemption predicate, used everywhere."""
    return _exempt_by_flags(subject, limit) or limit in policy_for(subject.kind).exempt_from


def counted_for_caps() -> sa.ColumnElement[bool]:
    """SQL over Broadcast: its deliveries count toward residents' caps. The flag part of
    `exempt(..., Limit.cap)`: a kind exempt from being skipped (a benefit notice, whose
    recipients were promised it) still counts as a message the resident got."""
    return sa.and_(
        col(Broadcast.bypass_limits).is_(False),
        col(Broadcast.priority) < int(Priority.emergency),
    )


def priority_of(subject: Subject) -> int:
    """The priority to store: the request's, raised to its kind's."""
    return max(int(subject.priority), int(policy_for(subject.kind).priority))
