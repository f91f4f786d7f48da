"""Python's cyclic garbage collector, paused for bulk reads.

Why: a rebuild (or any read of a whole log) keeps tens of thousands of events, rows and
states alive at once. Each of those allocations counts towards the collector's next pass,
and every older-generation pass walks every object still alive, again and again: on the
2,000-case demo home that was a third of `cases rebuild` (3.5-4.0 s with the collector,
2.6 s without). What a rebuild makes is plain data (models, dicts, tuples, bytes) freed by
reference counting as it goes; nothing it builds needs the cycle collector.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector is on again after it (if it
    was before), and any cycle made meanwhile is collected by its next pass."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
