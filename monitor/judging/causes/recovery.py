"""Finders of faults that outlast their fix: resolvers still handing out what they cached.

When the authoritative servers answer a name well again, a resolver may still hand out
the fault from its cache: an NXDOMAIN or NODATA (for the SOA TTL in its authority
section, which it counts down; Unbound may restart that count when it fetches a newer
SOA, so it is an upper bound), an old address after a rollback (for its TTL), or a
SERVFAIL (for a time no answer shows). Each cause is one resolver's, with the time it
needs and the commands that make it forget those names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from monitor.judging.causes.world import (
    REMEMBERED,
    Cause,
    CauseKind,
    Symptom,
    World,
    and_words,
    duration_words,
    holds_other,
)
from monitor.judging.commands import flush
from monitor.judging.health import NameHealth, authority_answers
from monitor.probing import ede
from monitor.probing.plan import NameKey, Purpose
from monitor.probing.results import ProbeResult
from monitor.states import NameState, Result

NEGATIVE = frozenset({Result.NXDOMAIN, Result.NODATA})


def recovery_seconds(causes: Iterable[Cause]) -> dict[str, int | None]:
    """Per service, how long until the last resolver that still hands out a fault for
    its names forgets it: when its people get it back. None where one of them does not
    show for how long (a remembered SERVFAIL)."""
    longest: dict[str, int | None] = {}
    for cause in causes:
        if cause.kind not in REMEMBERED:
            continue
        for service in cause.services:
            before = longest.get(service, 0)
            unknown = cause.seconds is None or before is None
            longest[service] = None if unknown else max(before or 0, cause.seconds or 0)
    return longest


def negative_cached(world: World) -> Iterable[Cause]:
    """Resolvers answering NXDOMAIN or NODATA, with the SOA of a cached negative answer,
    for names their authoritative servers answer with data."""

    def cached(r: ProbeResult, name: NameHealth) -> bool:
        full = _negative_ttl(world, r.query.name)
        return (
            r.result in NEGATIVE and r.negative_ttl is not None and not _altered(r)
            and (full is None or r.negative_ttl <= full)  # no more than the zone gives
            and bool(authority_answers(name.results))
        )  # fmt: skip

    found = _by_resolver(world, cached)
    for server, results in found.items():
        said = and_words(sorted({str(r.result).upper() for r in results}))
        yield _cause(world, CauseKind.NEGATIVE_CACHED, server, results, said,
                     [r.negative_ttl for r in results], negative=True)  # fmt: skip


def old_answer_cached(world: World) -> Iterable[Cause]:
    """Resolvers answering a name with other records than its authoritative servers all
    give now (a rollback, a moved service), until the TTL of what they cached."""

    def old(r: ProbeResult, name: NameHealth) -> bool:
        return r.ttl is not None and holds_other(r, authority_answers(name.results))

    for server, results in _by_resolver(world, old).items():
        yield _cause(world, CauseKind.OLD_ANSWER_CACHED, server, results,
                     "the old answer", [r.ttl for r in results], negative=False)  # fmt: skip


def servfail_cached(world: World) -> Iterable[Cause]:
    """Resolvers answering SERVFAIL for names their authoritative servers answer well,
    when the resolver reaches that authority (its canary did) and the zone is unsigned
    (a signed one is ``dnssec``): a failure it remembers, for a time no answer shows."""

    def remembered(r: ProbeResult, name: NameHealth) -> bool:
        zone = world.health.zones.get(world.graph.zone_of(r.query.name) or "")
        reached = zone is None or zone.reach.get(r.query.server.name, True)
        signed = zone is not None and zone.signatures_expire_in_seconds is not None
        return (
            r.result is Result.SERVFAIL
            and reached
            and not signed
            and bool(authority_answers(name.results))
        )

    for server, results in _by_resolver(world, remembered).items():
        yield _cause(world, CauseKind.SERVFAIL_CACHED, server, results, "SERVFAIL",
                     [None for _ in results], negative=True)  # fmt: skip


def _altered(r: ProbeResult) -> bool:
    """A policy's answer (RPZ, a filter: EDE 4, 15, 16, 17), not a cache's."""
    return bool(ede.codes(r.ede) & ede.ALTERED)


def _negative_ttl(world: World, name: str) -> int | None:
    zone = world.health.zones.get(world.graph.zone_of(name) or "")
    return zone.negative_ttl if zone is not None else None


def _by_resolver(
    world: World, matches: Callable[[ProbeResult, NameHealth], bool]
) -> dict[str, list[ProbeResult]]:
    """Each resolver's answers to listed names (its clients' questions too) that match,
    among what no cause explains yet."""
    clients: dict[NameKey, list[ProbeResult]] = {}
    for r in world.bad:
        if r.query.purpose is Purpose.CLIENT:
            clients.setdefault((r.query.name, r.query.type), []).append(r)
    found: dict[str, list[ProbeResult]] = {}
    for key, name in world.health.names.items():
        if name.consistent and name.state is NameState.HEALTHY:
            continue  # the common case: nothing handed out wrong
        for r in [*name.results, *clients.get(key, [])]:
            old = ("outdated", key, r.query.server.name)
            if not r.recursive or not (old in world.left or r.query.key in world.left):
                continue
            if matches(r, name):
                found.setdefault(r.query.server.name, []).append(r)
    return dict(sorted(found.items()))


def _cause(
    world: World, kind: CauseKind, server: str, results: list[ProbeResult], said: str,
    left: list[int | None], negative: bool,
) -> Cause:  # fmt: skip
    keys = sorted({(r.query.name, r.query.type) for r in results})
    what = f"{keys[0][0]} {keys[0][1]}" if len(keys) == 1 else f"{len(keys)} names"
    known = [s for s in left if s is not None]
    seconds = max(known) if known else None
    if seconds is not None:
        when = f"for at most {duration_words(seconds)} more"
        if kind is CauseKind.NEGATIVE_CACHED:
            when += " (the SOA TTL it counts down)"
    else:
        when = "for a time its answer does not show"
    summary = (
        f"{server} still hands out {said} it cached for {what}, which the authoritative "
        f"servers answer well again: clients asking it get it back {when}; flush it to end "
        "it now"
    )
    machine = world.graph.config.server(server)
    software = world.software.get(server)
    commands = tuple(dict.fromkeys(
        c for k in keys for c in flush(machine, k[0], negative, software)
    ))  # fmt: skip
    explains: set[Symptom] = {r.query.key for r in results} | {("differs", k) for k in keys}
    explains |= {("outdated", (r.query.name, r.query.type), server) for r in results}
    return Cause(kind, server, summary, (), "", "", frozenset(explains), seconds=seconds,
                 commands=commands)  # fmt: skip
