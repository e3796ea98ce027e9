"""The garbage collector's settings while a processor's lanes run (and while a bench measures
the engine as they run it).

What is built by the time lanes start (the config, every lane's engine state: budget rings,
series, sketches, many thousands of containers) lives as long as they run. Frozen out of the
collector's generations, it is not walked by every full collection, which the pull path's
allocations trigger now and then: the collector's share of the end-to-end bench drops from ~8 %
to ~2 %. And a batch allocates a few thousand containers (its messages, their payloads) that live
until it is applied: with young collections every 700 allocations (Python's default), each is
walked by several collections and promoted on the way; every 20,000, most are freed by their
reference counts before any collection sees them (about 3 % of the engine bench and of the end
to end CPU per event, measured in paired runs). Cycles the engine makes are rare, so garbage
waits little longer for it.

Held from the first running lane to the last (the settings are the process's, not a lane's), and
given back then, so that a processor stopped in a running process (a standby that steps down, a
test) is collected as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["YOUNG_COLLECTION_EVERY", "held"]

YOUNG_COLLECTION_EVERY = 20_000  # allocations of containers between young collections

_holders = 0
_saved_threshold: tuple[int, ...] = ()


@contextmanager
def held() -> Iterator[None]:
    """The heap frozen and young collections spaced while inside (nested: the outermost counts)."""
    global _holders, _saved_threshold
    _holders += 1
    if _holders == 1:
        gc.freeze()
        _saved_threshold = gc.get_threshold()
        gc.set_threshold(YOUNG_COLLECTION_EVERY, *_saved_threshold[1:])
    try:
        yield
    finally:
        _holders -= 1
        if _holders == 0:
            gc.set_threshold(*_saved_threshold)
            gc.unfreeze()
