"""The features, registered with the core: the one place that knows them all.

The core (lifecycle, planning, the outbox, delivery, the schedule) never imports a
feature; each feature registers its policy here at start. `register_features` is called
by `create_app`, by the CLI and in the dispatch process's child, so every process that
plans a broadcast plans it the same way. Calling it again changes nothing.
"""

from __future__ import annotations

from broadcaster import digest
from broadcaster.benefits import notices
from broadcaster.emergency import disaster_mode
from broadcaster.emergency import policy as emergency


def register_features() -> None:
    emergency.register()
    disaster_mode.register()
    notices.register()
    digest.register()
