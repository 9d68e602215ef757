"""Child processes that must not outlive the service.

`broadcaster serve` starts the LINE sandbox and a dispatch process. uvicorn re-raises the
SIGTERM it was stopped with once it has shut down, so cleanup code after it never runs,
and a SIGKILL runs nothing at all: the children themselves ask Linux to stop them when
their parent dies.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child: receive SIGTERM when the parent process dies (Linux; elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
