"""Loading without the cyclic garbage collector running.

Why: a code-location load allocates hundreds of thousands of objects that all stay alive (Dagster's modules, then a
spec, a column schema and lineage per node). CPython starts a collection after every ~700 net allocations, and a
full one each time the survivors grow by a quarter, so a 2,000-node load ran several full collections over a
heap where nothing was garbage: about a quarter of the build. Pausing the collector for the load, and resuming it
with what the load left already in the oldest generation, scans none of it; reference counting still frees
everything else, and the next full collection any cycle among it.
"""

from __future__ import annotations

import functools
import gc
from contextlib import contextmanager
from typing import Callable, Iterator, ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


@contextmanager
def gc_paused() -> Iterator[None]:
    """The collector off for the block, then back to how it was (nested pauses resume only at the outermost)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # What the load allocated is what a collection would find alive and promote, generation by generation,
            # scanning it each time (~1 s at 10,000 nodes): moved straight to the oldest generation instead
            # (freeze, then unfreeze, scans nothing). Any cyclic garbage among it is still freed, by the next full
            # collection.
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def without_gc(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``function`` run under :func:`gc_paused`."""

    @functools.wraps(function)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with gc_paused():
            return function(*args, **kwargs)

    return paused
