"""Finders of faults in single servers: dead, silent, refusing."""

from __future__ import annotations

from collections.abc import Iterable

from monitor.judging.causes.world import Cause, CauseKind, World
from monitor.probing.plan import Purpose
from monitor.probing.results import ProbeResult
from monitor.states import Result


def closed_servers(world: World) -> Iterable[Cause]:
    """Servers whose host says nothing listens (ICMP port unreachable) or that cannot be
    reached at all: dead for certain, so their silence is theirs, not that of a zone
    behind them."""
    for cause in dead_servers(world):
        if cause.kind is CauseKind.SERVER_UNREACHABLE:
            yield cause


def dead_servers(world: World) -> Iterable[Cause]:
    """Servers that answered nothing this round: unreachable when their host refuses the
    port (clients move on at once), silent when they drop queries (clients wait)."""
    dark = {s for z in world.health.zones.values() if z.dark for s in z.failing_servers}
    for spec in world.graph.config.servers:
        facts = world.facts.get(spec.name)
        if facts is None or facts.answered:
            continue
        if spec.name in dark and all(world.health.zones[z].dark for z in spec.zones):
            if not spec.recursive:  # a resolver too: its clients' failures are its own
                continue  # told as its zones going dark: one fault, not one per server
        mine = [r for r in world.bad if r.query.server.name == spec.name]
        closed = bool(mine) and all(_closed(r) for r in mine)
        host = f"[{spec.address}]" if ":" in spec.address else spec.address
        where = f"{host}:{spec.port}"
        kind = CauseKind.SERVER_UNREACHABLE if closed else CauseKind.SERVER_SILENT
        tail = "" if closed else world.felt_by_clients(spec.name, "silent")
        yield Cause(
            kind, spec.name, f"{spec.name} ({where}) does not answer at all", (),
            f"{spec.name} ({where}) stopped answering at {{time}}", tail,
            frozenset(r.query.key for r in mine),
        )  # fmt: skip


def _closed(r: ProbeResult) -> bool:
    return r.port_closed or r.detail.startswith(("send failed", "cannot ask"))


def tcp_unavailable(world: World) -> Iterable[Cause]:
    """Resolvers whose answers do not fit in 512 bytes and who do not give them over TCP:
    clients that ask without EDNS cannot get them at all."""
    by_server: dict[str, list[ProbeResult]] = {}
    for r in world.bad:
        if r.truncated:
            by_server.setdefault(r.query.server.name, []).append(r)
    for server, found in sorted(by_server.items()):
        names = sorted({f"{r.query.name} {r.query.type}" for r in found})
        what, them = (names[0], "it") if len(names) == 1 else (f"{len(names)} names", "them")
        summary = (
            f"{server} truncates the answer for {what} and does not give it over TCP: "
            f"clients that ask without EDNS (glibc, musl) cannot look {them} up"
        )
        yield Cause(CauseKind.TCP_UNAVAILABLE, server, summary, (), "",
                    world.felt_by_clients(server, "truncated"),
                    frozenset(r.query.key for r in found))  # fmt: skip


def refused(world: World) -> Iterable[Cause]:
    by_server: dict[str, list[ProbeResult]] = {}
    for r in (r for r in world.bad if r.result is Result.REFUSED):
        by_server.setdefault(r.query.server.name, []).append(r)
    for server, found in sorted(by_server.items()):
        names = sorted({r.query.name for r in found if r.query.purpose is not Purpose.CANARY})
        what = f"{len(names)} names" if len(names) != 1 else names[0]
        why = "access control, or a zone it no longer serves"
        summary = f"{server} refuses to answer {what} (REFUSED: {why})"
        yield Cause(CauseKind.REFUSED, server, summary, (), "", "",
                    frozenset(r.query.key for r in found))  # fmt: skip
