"""Child processes never outlive the service, even when it dies while they are starting.

The chaos benchmark killed replicas (kill -9) while their dispatch process was still
importing, before it had asked Linux to be stopped with its parent: 22 such processes
were left running. `die_with_parent` now also checks that its parent is still there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's"
)

# The parent starts the child, tells the test its pid, and exits at once; the child asks
# for the parent-death signal only once the test says so through a FIFO (after the
# parent has gone), then waits for ever.
PARENT = """
import os, subprocess, sys
argv = [sys.executable, "-c", sys.argv[1], sys.argv[2], str(os.getpid())]
child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
"""
CHILD = """
import signal, sys
from broadcaster.children import die_with_parent
fifo, parent = sys.argv[1], int(sys.argv[2])
with open(fifo) as go:
    go.read()
die_with_parent(parent)
while True:
    signal.pause()
"""


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it has died)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_child_whose_parent_died_before_it_asked_stops(tmp_path: Path) -> None:
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    parent = subprocess.run(
        [sys.executable, "-c", PARENT, CHILD, str(fifo)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    child = int(parent.stdout.split()[0])
    try:
        assert _alive(child)  # the parent has exited; the child has not asked yet
        fifo.write_text("go")
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the orphaned child kept running"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
