"""Small counts of residents are not shown: one rule for every figure, API to page.

A count such as "3 residents of 山間 blocked after this notice" can single people out in a
small town, so any count of residents below the threshold (`kpis.suppression_threshold`,
20 by default, the floor LINE itself applies to its statistics) is shown as "< 20". Totals
are computed from the true counts first and suppressed afterwards, never summed from
suppressed cells.
"""

from __future__ import annotations

from collections.abc import Sequence

Shown = int | str


def shown(count: int, threshold: int) -> Shown:
    """`count` itself, or "< threshold" when it is below the threshold (0 included: that
    no one in a group did something is as telling as that one did). A threshold of 1
    shows every count."""
    if count < threshold and threshold > 1:
        return f"< {threshold}"
    return count


def shown_average(scores_total: int, answers: int, threshold: int) -> float | None:
    """The average of `answers` scores, or None when there are too few answers to show."""
    if answers < threshold or answers == 0:
        return None
    return round(scores_total / answers, 2)


def shown_distribution(counts: Sequence[int], threshold: int) -> list[Shown]:
    return [shown(count, threshold) for count in counts]
