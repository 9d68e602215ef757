"""The sandbox's record kept on disk, so a person playing residents can restart it.

An append-only JSON-lines file: one line per accepted sending request (as
`DeliveryRecords.accept` took it) and one per follow or block. At start the file is
replayed; afterwards each change is appended and flushed. Retry keys, quota and the
request log are not kept: they are about LINE's behaviour within a run, not about what
residents have. Off by default (`SandboxConfig.record_file`); benchmarks never use it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from broadcaster.sandbox.records import DeliveryRecords


class Journal:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def replay(self, records: DeliveryRecords, followers: dict[str, None]) -> int:
        """Apply every line of the file; returns how many were read (0 if none yet).

        A last line cut short by a crash is ignored; every complete line before it counts.
        """
        if not self.path.exists():
            return 0
        count = 0
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                kind = entry.pop("kind", None)
                if kind == "accept":
                    records.accept(**entry)
                elif kind == "follow":
                    followers[entry["user_id"]] = None
                elif kind == "unfollow":
                    followers.pop(entry["user_id"], None)
                count += 1
        return count

    def write(self, kind: str, entry: dict[str, Any]) -> None:
        # Opened for each line: no file left open when a sandbox thread stops, and a
        # person's pace of a few events a second makes the cost irrelevant.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"kind": kind, **entry}, ensure_ascii=False) + "\n")

    def restart(self, followers: dict[str, None]) -> None:
        """Start the file again holding only the followers (after a sandbox reset)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", encoding="utf-8") as out:
            for user_id in followers:
                out.write(json.dumps({"kind": "follow", "user_id": user_id}) + "\n")
