"""Who a broadcast reaches: following residents matching the rule, minus opt-outs.

The dispatcher, previews and counts all use this one filter, so a preview's number is the
number that gets sent.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import col

from segments.compiler import compile_rule
from segments.residents import FollowState, Resident, ResidentOptOut
from segments.rules import Rule


def audience_filter(
    rule: Rule | None,
    *,
    on: dt.date,
    category: str | None,
    respect_opt_outs: bool = True,
) -> sa.ColumnElement[bool]:
    """A WHERE clause over `Resident`: following, matching `rule` (None: everyone) at `on`,
    and not opted out of `category` (unless `respect_opt_outs` is False: emergencies)."""
    clauses: list[sa.ColumnElement[bool]] = [col(Resident.follow_state) == FollowState.following]
    if rule is not None:
        clauses.append(compile_rule(rule, on=on))
    if category is not None and respect_opt_outs:
        opted_out = sa.exists(
            sa.select(sa.literal(1)).where(
                col(ResidentOptOut.resident_id) == col(Resident.id),
                col(ResidentOptOut.category) == category,
            )
        )
        clauses.append(~opted_out)
    return sa.and_(*clauses)
