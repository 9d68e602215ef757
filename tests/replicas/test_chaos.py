"""Two `broadcaster serve` replicas on one PostgreSQL, LINE's faults, kill -9 at random
points (the leader every other time): nobody is missed, nobody gets anything twice, LINE
never refuses our requests for its rate, and leadership moves within 5 s.

A bounded run of bench/chaos.py (the benchmark runs 3 replicas, 200k residents, 20 kills):
10k residents, 2 rounds of a notice to all and an evacuation order for 2 districts, the
leader killed in the first, the other replica in the second (about 1 min on a quiet
2-core machine, most of it starting `serve`).
"""

from __future__ import annotations

import os

import pytest

from bench.chaos import run
from tests.conftest import NO_POSTGRES, POSTGRES_ENV

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.mark.timeout(600)
def test_replicas_killed_at_random_lose_nothing_double_nothing_and_keep_lines_rate() -> None:
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(NO_POSTGRES)
    result = run(server, residents=10_000, replicas=2, kills=2, max_rounds=2, seed=7)
    assert result["kills"] == 2 and result["leader_kills"] == 1, result
    assert result["lost"] == 0, result
    assert result["duplicates"] == 0, result
    assert result["over_rate_429s"] == 0, result
    assert result["failover_unseen"] == 0 and result["failover_max_s"] <= 5.0, result
