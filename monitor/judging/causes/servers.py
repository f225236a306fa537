"""Finders of faults in single servers: dead, silent, refusing."""

from __future__ import annotations

from collections.abc import Iterable

from monitor.judging.causes.world import Cause, CauseKind, World
from monitor.probing.plan import Purpose
from monitor.probing.results import ProbeResult
from monitor.states import Result


def closed_servers(world: World) -> Iterable[Cause]:
    """Servers whose host says nothing listens (ICMP port unreachable): dead for certain,
    so their silence is theirs, not that of a zone behind them."""
    for cause in unreachable_servers(world):
        mine = [r for r in world.bad if r.query.server.name == cause.target]
        if mine and all("port unreachable" in r.detail for r in mine):
            yield cause


def unreachable_servers(world: World) -> Iterable[Cause]:
    dark = {s for z in world.health.zones.values() if z.dark for s in z.failing_servers}
    for spec in world.graph.config.servers:
        facts = world.facts.get(spec.name)
        if facts is None or facts.answered:
            continue
        if spec.name in dark and all(world.health.zones[z].dark for z in spec.zones):
            continue  # told as its zones going dark: one fault, not one per server
        explains = {r.query.key for r in world.bad if r.query.server.name == spec.name}
        host = f"[{spec.address}]" if ":" in spec.address else spec.address
        where = f"{host}:{spec.port}"
        yield Cause(
            CauseKind.SERVER_UNREACHABLE, spec.name,
            f"{spec.name} ({where}) does not answer at all", (),
            f"{spec.name} ({where}) stopped answering at {{time}}", "", frozenset(explains),
        )  # fmt: skip


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
