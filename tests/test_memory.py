"""The exporter's heap policy: what is loaded once is kept out of collections, and what
an old config leaves behind is still collected at the next settle."""

from __future__ import annotations

import contextlib
import gc
import os
import time
import weakref
from collections.abc import Iterator

import pytest

from monitor.serving import memory


class _Node:
    """A stand-in for a config or graph object that refers back to itself (a cycle)."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tune_collects_young_objects_far_less_often_than_cpython() -> None:
    memory.tune()
    assert gc.get_threshold() == memory.THRESHOLDS
    assert gc.get_threshold()[0] > 700 * 10


def test_a_settled_config_is_out_of_sight_until_the_next_settle_collects_it() -> None:
    old = _Node()
    alive = weakref.ref(old)
    memory.settle()
    assert gc.get_freeze_count() > 0
    del old
    gc.collect()
    assert alive() is not None, "a frozen cycle must not be walked by collections"
    memory.settle()  # a reload: the old config is let go, then settled away
    assert alive() is None, "the next settle must collect what the old config left"


# Run in a child: how glibc places large blocks is process-wide and cannot be undone.
_LARGE_BLOCKS = """
import ctypes, sys
from monitor.serving import memory

class Info(ctypes.Structure):
    _fields_ = [(f, ctypes.c_size_t) for f in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "serve":
    memory.one_heap()
first = ctypes.create_string_buffer(600_000)  # a scrape's gzip stream, say
del first
mapped = libc.mallinfo2().hblkhd
second = ctypes.create_string_buffer(600_000)  # the next scrape's
print(libc.mallinfo2().hblkhd - mapped >= 600_000)
"""


@pytest.mark.parametrize(("mode", "mapped"), [("plain", "False"), ("serve", "True")])
def test_serve_keeps_large_blocks_out_of_the_heap_after_one_is_freed(
    mode: str, mapped: str
) -> None:
    """glibc raises its mapping threshold once a mapped block is freed, so the next
    scrape's buffer would land in the heap among a round's objects; serve fixes it."""
    import subprocess
    import sys

    libc = memory._libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        pytest.skip("not glibc 2.33 or later")
    # glibc's default threshold, not one set from outside, is what the plain child shows.
    env = {k: v for k, v in os.environ.items()
           if k not in ("GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_")}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", _LARGE_BLOCKS, mode], capture_output=True, text=True, check=True,
        env=env,
    )  # fmt: skip
    assert done.stdout.strip() == mapped


@contextlib.contextmanager
def _collections_started() -> Iterator[list[int]]:
    """The generation of every collection that starts inside the block, in order."""
    started: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        yield started
    finally:
        gc.callbacks.remove(seen)


def test_no_collection_runs_during_a_round_and_one_as_it_ends_frees_its_cycles() -> None:
    collections = memory.RoundCollections()
    with _collections_started() as started:
        with collections.round():
            made = [_Node() for _ in range(200_000)]  # far past any young threshold
            left = weakref.ref(made[-1])
            del made
            assert started == []
            assert left() is not None  # a cycle: only a collection frees it
        assert left() is None
        assert started == [1]
        assert gc.isenabled()


def test_a_round_that_fails_leaves_collection_on() -> None:
    collections = memory.RoundCollections()
    with pytest.raises(ZeroDivisionError), collections.round():
        1 / 0  # noqa: B018
    assert gc.isenabled()
    assert collections.started is None


def test_a_round_running_past_its_time_lets_collections_run_again() -> None:
    collections = memory.RoundCollections()
    assert not collections.resume_if_over(0.0)  # no round runs
    with collections.round():
        assert not gc.isenabled()
        assert not collections.resume_if_over(60.0)  # not yet
        time.sleep(0.01)
        assert collections.resume_if_over(0.005)
        assert gc.isenabled()
        assert not collections.resume_if_over(0.005)  # once
    assert gc.isenabled()


def test_a_config_loaded_during_a_round_is_settled_as_it_ends() -> None:
    gc.unfreeze()  # whatever an earlier test settled
    collections = memory.RoundCollections()
    with collections.round():
        collections.settle_due = True  # what a reload sets
        assert gc.get_freeze_count() == 0
    assert gc.get_freeze_count() > 0
    assert not collections.settle_due
    assert gc.isenabled()


def test_every_so_many_rounds_the_collection_is_a_full_one() -> None:
    collections = memory.RoundCollections()
    with _collections_started() as generations:
        for _ in range(memory.FULL_COLLECTION_EVERY):
            with collections.round():
                pass
    assert generations == [1] * (memory.FULL_COLLECTION_EVERY - 1) + [2]
