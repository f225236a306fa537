"""``impact``: a what-if's imagined rounds, judged as ``check`` judges real ones.

Two moments (``judging.impact``): while resolver caches last, where resolvers serve
stale, and once they have run out. A summary judges one name per class of names that
fare alike (``judging.classes``): the same services, backups and causes, in a fraction
of the time at ten thousand services; where a cause would name a single name, every
name is judged after all. ``--detail`` judges every name from the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.judging import classes
from monitor.judging import impact as imagined
from monitor.judging.impact import Failure
from monitor.serving.rounds import Monitor

NAMED = frozenset(kind.value for kind in classes.NAMED)


@dataclass(frozen=True)
class Moment:
    """One moment of a what-if and its report."""

    name: str  # caches_holding | caches_expired
    after_seconds: float | None  # the stale window after the names' TTLs, where one holds
    report: dict[str, Any]


def moments(monitor: Monitor, failures: list[Failure], detail: bool) -> tuple[list[Moment], bool]:
    """The moments of ``failures``, and whether every name was judged (else the reports
    leave out what would name a class's stand-in)."""
    window = imagined.stale_window(monitor.config.servers, failures)
    wanted: list[tuple[str, float | None, bool]] = [("caches_expired", window, False)]
    if window is not None:  # resolvers that serve stale hold on for a while first
        wanted.insert(0, ("caches_holding", None, True))
    if not detail:
        failed = [f.name for f in failures if f.kind == "name"]
        reduced, weights = classes.reduce(monitor.config, monitor.graph, failed)
        small = Monitor(reduced)
        small.weights = weights
        found = _judged(small, failures, wanted, names=False)
        if not any(c["kind"] in NAMED for m in found for c in m.report["causes"]):
            return found, False
    return _judged(monitor, failures, wanted, names=detail), True


def _judged(
    monitor: Monitor, failures: list[Failure], wanted: list[tuple[str, float | None, bool]],
    names: bool,
) -> list[Moment]:  # fmt: skip
    return [
        Moment(name, after, monitor.judge(
            imagined.imagine(monitor.graph, failures, stale), names=names).report)
        for name, after, stale in wanted
    ]  # fmt: skip
