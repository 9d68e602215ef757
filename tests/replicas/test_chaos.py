"""Two `broadcaster serve` replicas on one PostgreSQL, LINE's faults, kill -9 at random
points (the leader every other time): nobody is missed, nobody gets anything twice, LINE
never refuses our requests for its rate, and leadership moves within 5 s.

A bounded run of bench/chaos.py (the benchmark runs 3 replicas, 200k residents, 20 kills):
20k residents, up to 3 rounds of a notice to all and an evacuation order for 2 districts.
"""

from __future__ import annotations

import os

import pytest

from bench.chaos import run
from tests.conftest import NO_POSTGRES, POSTGRES_ENV

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.mark.timeout(300)
def test_replicas_killed_at_random_lose_nothing_double_nothing_and_keep_lines_rate() -> None:
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(NO_POSTGRES)
    result = run(server, residents=20_000, replicas=2, kills=4, max_rounds=3, seed=7)
    assert result["kills"] >= 2 and result["leader_kills"] >= 1, result
    assert result["lost"] == 0, result
    assert result["duplicates"] == 0, result
    assert result["over_rate_429s"] == 0, result
    assert result["failover_unseen"] == 0 and result["failover_max_s"] <= 5.0, result
