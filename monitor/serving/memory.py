"""The heap of a process that runs large rounds: collect garbage seldom, give back what is freed.

A round at 5,000 names × 4 servers makes over a million short-lived objects. With
CPython's default thresholds the cycle collector runs about 600 times a round and walks
the whole heap (modules, config, graph, the last outcome) a few times: 0.2–0.35 CPU-s a
round, in pauses of up to 130 ms that a scrape waits behind. Almost everything a round
makes is freed by reference counting alone, so dnsmon collects far less often, and keeps
what is loaded once (modules, config, graph) out of the collector's sight.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import time
from collections.abc import Iterator
from typing import Any

# New objects before a young collection (CPython: 700), then how many young collections
# make a middle one, and middle ones an old one. A young collection then walks at most
# this many objects (under 10 ms); a middle one at most five times as many.
THRESHOLDS = (50_000, 5, 10)
M_ARENA_MAX = -8  # glibc's mallopt parameters
M_MMAP_THRESHOLD = -3
# Blocks this large and larger are mapped on their own and unmapped when freed. glibc
# raises its threshold after each such free, after which a scrape's buffers (a gzip
# stream of 0.6 MB, compressor copies) land in the heap between a round's small objects
# and keep it from shrinking. A fixed threshold keeps them out.
MMAP_THRESHOLD = 256 * 1024


def tune() -> None:
    """Collect seldom; call once, at start."""
    gc.set_threshold(*THRESHOLDS)


# Rounds between full collections in ``serve``: cycles that outlive a round (a scrape's
# connection, closed later) are found at the latest this many rounds on.
FULL_COLLECTION_EVERY = 20


class RoundCollections:
    """``serve``'s cycle collection: none while a round runs, one as it ends.

    A collection during a round walks the round's live objects (20,000 answers and their
    report at 5,000 names × 4 servers): young ones took up to 40 ms and middle ones
    100–150 ms, seven in twelve rounds, and scrapes waited behind each. As the round
    ends the collection walks what it left, in one pause of 30–55 ms. A config loaded
    meanwhile is settled then too, once the round no longer holds the old one.
    """

    def __init__(self) -> None:
        self.rounds = 0
        self.started: float | None = None  # when the running round began (monotonic)
        self.settle_due = False  # a new config was loaded: settle as the round ends

    @contextlib.contextmanager
    def round(self) -> Iterator[None]:
        """No automatic collection inside (in any thread) until ``resume_if_over``; one as
        the block ends. If the block raised, its traceback still holds the round's
        objects: that collection walks them too, and the next frees them."""
        self.started = time.monotonic()
        gc.disable()
        try:
            yield
        finally:
            self.started = None
            self.rounds += 1
            if self.settle_due:
                self.settle_due = False
                settle()
            else:
                gc.collect(2 if self.rounds % FULL_COLLECTION_EVERY == 0 else 1)
            gc.enable()  # after: the collection reset the counts that would start one now

    def resume_if_over(self, seconds: float) -> bool:
        """Let collections run again once the running round has lasted ``seconds``: a
        stalled round must not leave every thread's garbage uncollected (each closed HTTP
        connection leaves about 6 KB of cycles). True if it did."""
        started = self.started
        if started is None or time.monotonic() - started <= seconds or gc.isenabled():
            return False
        gc.enable()
        return True


def one_heap() -> None:
    """Allocate from one heap for every thread; call before threads start (``serve``).

    glibc gives each thread that allocates its own heap (arena), and a thread's heap
    keeps what it held at its peak: the HTTP thread's scrapes would hold tens of MB
    besides the rounds'. Python runs one thread at a time anyway. Blocks of
    ``MMAP_THRESHOLD`` and more are mapped on their own, whatever was freed before.
    """
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, 1)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def settle() -> None:
    """Everything alive now lives as long as the config: collect once, then keep it out
    of every later collection. Called after a config is loaded (``serve``: at start, and
    after a reload as the running round ends, when the old config has been let go)."""
    gc.unfreeze()  # what an old config left behind is collected with the rest
    gc.collect()
    gc.freeze()


def release() -> None:
    """Hand the previous round's freed memory back to the system (glibc only).

    A round allocates and frees tens of megabytes of short-lived strings; without a
    trim, glibc keeps them in the heap and the exporter's resident size creeps up.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc() -> Any:
    import ctypes  # only where rounds run: not worth its import time for ``--help``

    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None
