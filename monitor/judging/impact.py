"""What-if, nothing probed: imagine a round in which the listed things fail.

The imagined round goes through the same ``health.judge`` as a real one, so ``impact``
and ``check`` can never disagree about what a failure means. It shows the state after
resolver caches have expired: while they last, ``check`` sees the same services degraded
with a cache runway instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from monitor.config import Config
from monitor.config.suggest import did_you_mean
from monitor.judging.graph import Graph
from monitor.probing import plan
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


def imagine(graph: Graph, failures: list[Failure]) -> Round:
    """A round in which every listed failure holds and everything else answers as expected."""
    servers = {f.name for f in failures if f.kind == "server"}
    zones = {f.name for f in failures if f.kind == "zone"}
    names = {f.name for f in failures if f.kind == "name"}
    zones |= _zones_left_without_servers(graph, servers)
    imagined = Round(time.time())
    for query in graph.layout.build():
        imagined.add(_imagined_result(query, graph, servers, zones, names))
    return imagined


def _zones_left_without_servers(graph: Graph, failed: set[str]) -> set[str]:
    """Zones all of whose authoritative servers fail: resolvers fail once caches expire."""
    return {zone for zone in graph.zones if all(s.name in failed for s in graph.zone_servers(zone))}


def _imagined_result(
    query: plan.Query, graph: Graph, servers: set[str], zones: set[str], names: set[str]
) -> ProbeResult:
    zone = graph.zone_of(query.name)
    if query.server.name in servers:
        return ProbeResult(
            query, Result.TIMEOUT, detail=f"assumed failed: server:{query.server.name}"
        )
    if zone in zones:
        why = "" if query.server.role is Role.AUTHORITATIVE else " (once caches expire)"
        return ProbeResult(query, Result.TIMEOUT, detail=f"assumed failed: zone {zone}{why}")
    if query.name in names:
        return ProbeResult(query, Result.NXDOMAIN, detail=f"assumed failed: name:{query.name}")
    answers = tuple(sorted(query.expect)) if query.expect else ()
    serial = 1 if query.type == "SOA" else None
    return ProbeResult(query, Result.OK, answers=answers, serial=serial)
