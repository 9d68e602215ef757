"""The emergency policy: what the core does differently for an evacuation order.

Registered at start (`broadcaster.features.register_features`). An emergency goes first
(priority), ignores quiet hours, caps and opt-outs (its priority alone says so, through
`policies.exempt`), and its render is hardened: a context whose template fails gets plain
text, the desk's free text is always in it, and a drill's every message starts 【訓練】.
"""

from __future__ import annotations

from broadcaster import policies
from broadcaster.broadcasts import BroadcastKind, Priority
from broadcaster.emergency.hardening import emergency_render
from broadcaster.policies import Policy


def register() -> None:
    policies.register(
        Policy(kind=BroadcastKind.emergency, harden=emergency_render, priority=Priority.emergency)
    )
