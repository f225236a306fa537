"""The exporter's heap policy: what is loaded once is kept out of collections, and what
an old config leaves behind is still collected at the next settle."""

from __future__ import annotations

import gc
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
