"""What-if, nothing probed: imagine a round in which the listed things fail.

The imagined round goes through the same ``health.judge`` as a real one, so ``impact``
and ``check`` can never disagree about what a failure means. Two moments are imagined:
while caches last (once the names' TTLs have run out, resolvers that serve stale still
answer: ``check`` sees the same services degraded with a runway), and once the stale
windows have run out too (``stale=False``), when nothing cached is left.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.config import Config, Server
from monitor.config.suggest import did_you_mean
from monitor.judging.graph import Graph
from monitor.probing import plan
from monitor.probing.ede import Ede
from monitor.probing.plan import NameKey, Purpose
from monitor.probing.results import ProbeResult, Round
from monitor.states import Result, Role

KINDS = ("server", "zone", "name")


class UnknownTarget(ValueError):
    """A ``--fail`` that names nothing in the config; the message carries a suggestion."""


@dataclass(frozen=True)
class Failure:
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def parse_failure(text: str, config: Config, graph: Graph) -> Failure:
    """``server:ns1`` → Failure; raises UnknownTarget naming what would fit."""
    kind, sep, name = text.partition(":")
    if not sep or kind not in KINDS:
        hint = did_you_mean(kind, KINDS)
        raise UnknownTarget(f"{text!r}: KIND must be one of {', '.join(KINDS)}{hint}")
    choices = {
        "server": [s.name for s in config.servers],
        "zone": graph.zones,
        "name": list(graph.keys_by_name),
    }[kind]
    wanted = name if kind == "server" else name.lower().rstrip(".")
    if wanted not in choices:
        hint = did_you_mean(wanted, choices)
        raise UnknownTarget(f"{text!r}: no {kind} called {name!r} in the config{hint}")
    return Failure(kind, wanted)


def imagine(graph: Graph, failures: list[Failure], stale: bool = True) -> Round:
    """A round in which every listed failure holds and everything else answers as expected.

    Resolvers answer names whose authority is gone as they will once their caches
    expire: stale where they are known to serve stale (``serve_stale``) and ``stale``
    (the stale window is not over yet), else not at all.
    """
    servers = {f.name for f in failures if f.kind == "server"}
    zones = {f.name for f in failures if f.kind == "zone"}
    names = {f.name for f in failures if f.kind == "name"}
    zones |= _zones_left_without_servers(graph, servers)
    imagined = Round(time.time())
    world = _World(graph, servers, zones, names, stale)
    for query in graph.layout.build() + graph.layout.canaries() + graph.client_plan.always():
        imagined.add(world.result(query))
    return imagined


def _zones_left_without_servers(graph: Graph, failed: set[str]) -> set[str]:
    """Zones all of whose authoritative servers fail: resolvers fail once caches expire."""
    return {zone for zone in graph.zones if all(s.name in failed for s in graph.zone_servers(zone))}


@dataclass(frozen=True)
class _World:
    """What fails in the imagined round."""

    graph: Graph
    servers: set[str]
    zones: set[str]
    names: set[str]
    stale: bool = True  # resolvers with serve_stale still answer from expired cache
    lost_along: dict[NameKey, list[str]] = field(default_factory=dict)
    answer_sets: dict[frozenset[str], tuple[str, ...]] = field(default_factory=dict)

    def result(self, query: plan.Query) -> ProbeResult:
        if query.server.name in self.servers:
            return _failed(query, f"assumed failed: server:{query.server.name}")
        if query.purpose is Purpose.CANARY:
            return self._canary(query)
        if query.purpose is Purpose.SOA:
            return self._answer(query, self.graph.zone_of(query.name) in self.zones, serial=1)
        if query.server.role is Role.AUTHORITATIVE:
            lost = self.graph.zone_of(query.name) in self.zones
            return self._answer(query, lost)
        return self._from_resolver(query)

    def _canary(self, query: plan.Query) -> ProbeResult:
        if query.zone in self.zones:
            return _failed(query, f"assumed failed: zone {query.zone} (no authority to reach)")
        return ProbeResult(query, Result.NXDOMAIN, detail="assumed: reaches the authority")

    def _answer(self, query: plan.Query, zone_lost: bool, serial: int | None = None) -> ProbeResult:
        if zone_lost:
            return _failed(query, f"assumed failed: zone {self.graph.zone_of(query.name)}")
        if query.name in self.names:
            return ProbeResult(query, Result.NXDOMAIN, detail=f"assumed failed: name:{query.name}")
        return ProbeResult(query, Result.OK, answers=self._expected(query), serial=serial)

    def _from_resolver(self, query: plan.Query) -> ProbeResult:
        lost = self._lost_along((query.name, query.type))
        if not lost:
            return self._answer(query, False)
        if query.server.serve_stale and self.stale:  # known to answer from expired cache
            answers = self._expected(query) or ("(cached answer)",)
            return ProbeResult(
                query, Result.STALE, ttl=30, answers=answers, ede=(Ede(3),),
                detail=f"assumed: zone {lost[0]} lost; serves expired answers (serve_stale)",
            )  # fmt: skip
        when = "once caches and stale windows run out" if query.server.serve_stale else (
            "once caches expire")  # fmt: skip
        return _failed(query, f"assumed failed: zone {lost[0]} ({when})")

    def _expected(self, query: plan.Query) -> tuple[str, ...]:
        """The answers the config expects, in order; worked out once per name, not per server."""
        if not query.expect:
            return ()
        found = self.answer_sets.get(query.expect)
        if found is None:
            found = self.answer_sets[query.expect] = tuple(sorted(query.expect))
        return found

    def _lost_along(self, key: NameKey) -> list[str]:
        """The failed zones along a name's chain; the same for every resolver asked."""
        found = self.lost_along.get(key)
        if found is None:
            found = self.lost_along[key] = [
                z for z in self.graph.zones_along(key) if z in self.zones
            ]
        return found


def _failed(query: plan.Query, detail: str) -> ProbeResult:
    return ProbeResult(query, Result.TIMEOUT, detail=detail)


def stale_window(servers: Iterable[Server], failures: list[Failure]) -> float | None:
    """How long after the names' TTLs the resolvers that serve stale can hide
    ``failures`` at the most: their longest ``serve_stale``; None when none serves stale
    (caches hold only for the TTLs, and the two moments are one)."""
    failed = {f.name for f in failures if f.kind == "server"}
    windows = [s.serve_stale for s in servers
               if s.recursive and s.serve_stale and s.name not in failed]  # fmt: skip
    return max(windows) if windows else None
