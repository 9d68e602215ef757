"""Frozen time for tests.

freezegun also freezes `time.monotonic`, which event loops schedule their timers with.
A sandbox serving the tests in a thread (and any worker's loop) would then schedule its
next tick in the frozen clock's time, never wake for it, and hang at shutdown. Event
loops therefore keep real monotonic time; what the code under test reads (datetime,
time.time) is frozen as usual.
"""

from __future__ import annotations

from typing import Any

import freezegun


def freeze_time(time_to_freeze: Any = None, **kwargs: Any) -> Any:
    return freezegun.freeze_time(time_to_freeze, real_asyncio=True, **kwargs)
