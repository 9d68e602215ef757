"""Child processes that must not outlive the service.

`broadcaster serve` starts the LINE sandbox and a dispatch process. uvicorn re-raises the
SIGTERM it was stopped with once it has shut down, so cleanup code after it never runs,
and a SIGKILL runs nothing at all: the children themselves ask Linux to stop them when
their parent dies.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """In a child of `parent_pid`: receive SIGTERM when that process dies (Linux; elsewhere
    a no-op).

    Linux sends the signal only for a death after the request: a parent killed while the
    child was still starting (a spawned dispatch process imports for a second or more)
    would leave it running for good, which the chaos benchmark's kills did 22 times.
    So the child checks its parent is still the one that started it.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)
