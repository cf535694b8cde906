"""A code-location load runs with the cyclic garbage collector paused (seeknal_dagster/gc_pause.py): the process
must get its collector back as it was, and garbage the load made in cycles must still be freed."""

from __future__ import annotations

import gc
import weakref

from seeknal_dagster.gc_pause import gc_paused


class _Cycle:
    def __init__(self) -> None:
        self.myself = self


def test_the_collector_resumes_after_a_load_and_still_frees_the_cycles_it_made():
    assert gc.isenabled()
    with gc_paused():
        with gc_paused():  # nested pauses resume only at the outermost
            garbage = weakref.ref(_Cycle())
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.collect()
    assert garbage() is None


def test_a_collector_the_caller_had_disabled_stays_disabled():
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
