"""Causes: the fewest faults that explain every failure of a round. Pure.

A round shows symptoms — answers that are not ok, canaries that did not reach the
authority, names answered from cache alone, answers and serials that disagree. Each kind
of fault explains a set of them: a dark zone explains every failure of its names on every
server, a dead resolver every query it left unanswered. Faults are tried from the most
sweeping to the most local, and one is named only when it explains something no fault
before it did, so forty failing names behind one dark zone read as one cause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from monitor.judging.causes import answers, recovery, servers, zones
from monitor.judging.causes.world import ORDER, REMEMBERED, Cause, CauseKind, World
from monitor.judging.graph import Graph
from monitor.judging.health import Health
from monitor.probing.results import ProbeResult, ServerFacts, server_facts
from monitor.states import Software

__all__ = ["ORDER", "REMEMBERED", "Cause", "CauseKind", "find", "unknown_software"]


def unknown_software(
    graph: Graph, causes: Iterable[Cause], known: Mapping[str, object]
) -> set[str]:
    """Servers with a command to run (a cache to flush) whose software nobody said yet."""
    return {
        c.target for c in causes if c.kind in REMEMBERED
        and graph.config.server(c.target).software is None and c.target not in known
    }  # fmt: skip


def find(
    graph: Graph,
    health: Health,
    results: Iterable[ProbeResult],
    facts: Mapping[str, ServerFacts] | None = None,
    software: Mapping[str, Software | None] | None = None,
) -> list[Cause]:
    """The causes of a judged round, most affected services first; ``facts`` are the
    round's ``server_facts`` when the caller has them already; ``software`` what servers
    without a ``software:`` key said they run (for the commands causes give)."""
    results = list(results)
    facts = facts if facts is not None else server_facts(results)
    world = World(graph, health, results, facts, software)
    found: list[Cause] = []
    for finder in FINDERS:
        for cause in finder(world):
            useful = cause.explains & world.left
            if useful:
                world.left -= useful  # later finders ('other') read what is still left
                found.append(world.with_services(cause))
    for clock in CLOCKS:  # time running out, before anything fails: no symptom to explain
        found += clock(world)
    return sorted(found, key=lambda c: (-len(c.services), ORDER.index(c.kind), c.target))


# Tried in this order: servers known dead first (their silence is their own), then a
# dark zone (which a resolver timing out on its names may only seem to be), and so on.
FINDERS: list[Callable[[World], Iterable[Cause]]] = [
    servers.closed_servers,
    zones.zone_expired,  # before not loaded and dark: an expired copy answers SERVFAIL
    zones.zone_not_loaded,
    zones.zone_dark,
    servers.dead_servers,
    zones.dnssec,  # before reachability: a bogus zone's canaries fail too
    zones.authority_unreachable,
    answers.record_changed,  # before recovery: an answer the config expects is not "old"
    recovery.negative_cached,  # the authority answers well again: only caches remember
    recovery.old_answer_cached,
    recovery.servfail_cached,
    servers.refused,
    answers.negative_answer,
    servers.tcp_unavailable,
    answers.view_differs,
    zones.serial_regressed,  # before serials_differ: the same symptom, told right
    zones.serials_differ,
    answers.stale_answers,
    answers.answers_differ,
    answers.other,
]
CLOCKS: list[Callable[[World], Iterable[Cause]]] = [zones.zone_expiring, zones.signatures_expiring]
