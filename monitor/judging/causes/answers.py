"""Finders of faults in what is answered: records changed, stale, differing, the rest."""

from __future__ import annotations

from collections.abc import Iterable

from monitor.judging.causes.world import WRONG, Cause, CauseKind, Symptom, World, and_words
from monitor.probing.plan import Purpose, result_key
from monitor.probing.results import ProbeResult
from monitor.states import Result


def record_changed(world: World) -> Iterable[Cause]:
    drifting = {z.name for z in world.health.zones.values() if not z.consistent}
    for key, name in world.health.names.items():
        authority = [
            r for r in name.results if not r.recursive and r.query.purpose is not Purpose.SOA
        ]
        wrong = [r for r in authority if r.result in WRONG]
        zones = {r.query.zone for r in wrong}
        if not wrong or (zones & drifting and len(wrong) < len(authority)):
            continue
        explains = {r.query.key for r in wrong}
        explains |= {r.query.key for r in name.results if r.recursive and r.result in WRONG}
        explains |= world.cached([key])
        told = and_words([f"{r.query.server.name} {_said(r)}" for r in wrong])
        what = f"{key[0]} {key[1]}"
        gone = all(r.result is not Result.WRONG_ANSWER for r in wrong)
        summary = (
            f"the authoritative servers no longer have {what} ({told})"
            if gone
            else f"the authoritative servers answer {what} differently ({told})"
        )
        since = summary.replace(" (", " since {time} (", 1)
        yield Cause(CauseKind.RECORD_CHANGED, what, summary, (), since,
                    world.runway_tail([key]), frozenset(explains))  # fmt: skip


def _said(r: ProbeResult) -> str:
    if r.result is Result.WRONG_ANSWER:
        return f"now {', '.join(r.answers) or 'something else'}"
    return "NXDOMAIN" if r.result is Result.NXDOMAIN else "no such record (NODATA)"


def stale_answers(world: World) -> Iterable[Cause]:
    by_server: dict[str, set[Symptom]] = {}
    for key, name in world.health.names.items():
        for r in name.results:
            if r.result is Result.STALE:
                by_server.setdefault(r.query.server.name, set()).update(
                    {r.query.key, *world.cached([key], {r.query.server.name})}
                )
    for server, explains in sorted(by_server.items()):
        count = sum(world.health.weight((s[0], s[1])) for s in explains if s[0] != "cached")
        names = f"{count} name{'s' if count != 1 else ''}"
        summary = f"{server} answers {names} from expired cache (EDE 3 Stale Answer)"
        yield Cause(CauseKind.STALE_ANSWERS, server, summary, (), "", "", frozenset(explains))


def answers_differ(world: World) -> Iterable[Cause]:
    for key, name in world.health.names.items():
        if name.consistent:
            continue
        views = sorted({f"{r.query.server.name} {', '.join(r.answers) or '→ ' + ', '.join(r.chain)}"
                        for r in name.results if r.ok})  # fmt: skip
        summary = f"servers give different answers for {key[0]} {key[1]} ({'; '.join(views)})"
        yield Cause(CauseKind.ANSWERS_DIFFER, f"{key[0]} {key[1]}", summary, (), "", "",
                    frozenset({("differs", key)}))  # fmt: skip


def negative_answer(world: World) -> Iterable[Cause]:
    """A resolver that answers NXDOMAIN or NODATA for names another resolver resolves:
    clients that ask it first take that answer and never ask another."""
    by_server: dict[str, list[ProbeResult]] = {}
    for r in world.bad:  # the negative answers, then whether another resolver resolves
        if r.recursive and r.result in NEGATIVE and r.query.purpose is Purpose.NAME:
            name = world.health.names.get((r.query.name, r.query.type))
            if name is not None and any(x.recursive and x.serves_clients for x in name.results):
                by_server.setdefault(r.query.server.name, []).append(r)
    for server, found in sorted(by_server.items()):
        keys = sorted({(r.query.name, r.query.type) for r in found})
        what = f"{keys[0][0]} {keys[0][1]}" if len(keys) == 1 else f"{len(keys)} names"
        said = and_words(sorted({str(r.result).upper() for r in found}))
        others = sorted(
            {
                r.query.server.name
                for key in keys
                for r in world.health.names[key].results
                if r.recursive and r.serves_clients
            }
        )
        resolve = "resolves" if len(others) == 1 else "resolve"
        summary = (
            f"{server} answers {said} for {what}, which {and_words(others)} {resolve}: "
            "clients that ask it first fail and never ask another"
        )
        yield Cause(CauseKind.NEGATIVE_ANSWER, server, summary, (), "",
                    world.felt_by_clients(server, said.split(" and ")[0]),
                    frozenset(r.query.key for r in found))  # fmt: skip


NEGATIVE = frozenset({Result.NXDOMAIN, Result.NODATA})


def view_differs(world: World) -> Iterable[Cause]:
    """Answers to the clients' question (from their address, or without EDNS) that are
    not what dnsmon's own question gets from the same server."""
    by_name: dict[tuple[str, str], list[tuple[ProbeResult, ProbeResult]]] = {}
    for r in world.results:
        if r.query.purpose is not Purpose.CLIENT or (r.truncated and not r.ok):
            continue  # a truncated answer not fetched over TCP is ``tcp_unavailable``
        own = world.by_key.get(result_key(r.query.name, r.query.type, r.query.server))
        if own is not None and (own.result, own.answers) != (r.result, r.answers):
            by_name.setdefault((r.query.name, r.query.type), []).append((r, own))
    for (name, rdtype), pairs in sorted(by_name.items()):
        told = "; ".join(
            f"{r.query.server.name} answers {r.query.clients} ({r.query.shape}) "
            f"{_gets(r)}, dnsmon's own address {_gets(own)}"
            for r, own in pairs
        )
        explains = {r.query.key for r, _ in pairs} | {own.query.key for _, own in pairs}
        yield Cause(CauseKind.VIEW_DIFFERS, f"{name} {rdtype}", f"{name} {rdtype}: {told}",
                    (), "", "", frozenset(explains))  # fmt: skip


def _gets(r: ProbeResult) -> str:
    if r.answers:
        return ", ".join(r.answers)
    return str(r.result).upper() if r.result is not Result.TIMEOUT else "no answer"


def other(world: World) -> Iterable[Cause]:
    """Whatever is left, by server when one server fails several names, else by name."""
    failing = [
        r for r in world.bad if r.query.purpose is not Purpose.CANARY and r.query.key in world.left
    ]
    by_server: dict[str, list[ProbeResult]] = {}
    for r in failing:
        by_server.setdefault(r.query.server.name, []).append(r)
    for server, found in sorted(by_server.items()):
        if len(found) > 1:
            details = sorted({r.detail or str(r.result) for r in found})
            more = "; …" if len(details) > 1 else ""
            summary = f"{server} fails {len(found)} queries ({details[0]}{more})"
            yield Cause(CauseKind.OTHER, server, summary, (), "", "",
                        frozenset(r.query.key for r in found))  # fmt: skip
    for r in failing:
        detail = f" ({r.detail})" if r.detail else ""
        summary = f"{r.query.name} {r.query.type} on {r.query.server.name}: {r.result}{detail}"
        yield Cause(CauseKind.OTHER, f"{r.query.name} {r.query.type}", summary, (), "", "",
                    frozenset({r.query.key}))  # fmt: skip


# Tried in this order: servers known dead first (their silence is their own), then a
# dark zone (which a resolver timing out on its names may only seem to be), and so on.
