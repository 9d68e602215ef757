"""The long-lived heap of a process that dispatches or sends (the service, the dispatch
process): frozen once it is built, so the collector stops rescanning it."""

from __future__ import annotations

import gc


def freeze_long_lived_objects() -> None:
    """Move everything alive now (modules, models, settings) out of the garbage collector's
    sight. A million-recipient dispatch allocates millions of small objects, and each full
    collection it triggers would otherwise rescan the whole heap: measured at 100k
    recipients, 12 us a row with a normal collector and 8 us after this."""
    gc.collect()
    gc.freeze()
