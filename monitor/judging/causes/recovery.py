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
)
from monitor.judging.commands import flush
from monitor.judging.health import NameHealth, authority_answers
from monitor.probing.plan import NameKey, Purpose
from monitor.probing.results import ProbeResult
from monitor.states import NameState, Result

NEGATIVE = frozenset({Result.NXDOMAIN, Result.NODATA})


def recovery_seconds(causes: Iterable[Cause]) -> dict[str, int]:
    """Per service, how long until the last resolver that still hands out a fault for
    its names forgets it (as far as known): when its people get it back."""
    longest: dict[str, int] = {}
    for cause in causes:
        if cause.kind in REMEMBERED and cause.seconds is not None:
            for service in cause.services:
                longest[service] = max(longest.get(service, 0), cause.seconds)
    return longest


def negative_cached(world: World) -> Iterable[Cause]:
    """Resolvers answering NXDOMAIN or NODATA, with the SOA of a cached negative answer,
    for names their authoritative servers answer with data."""
    found = _by_resolver(world, lambda r, name: (
        r.result in NEGATIVE and r.negative_ttl is not None and bool(_authority_answers(name))
    ))  # fmt: skip
    for server, results in found.items():
        said = and_words(sorted({str(r.result).upper() for r in results}))
        yield _cause(world, CauseKind.NEGATIVE_CACHED, server, results, said,
                     [r.negative_ttl for r in results], negative=True)  # fmt: skip


def old_answer_cached(world: World) -> Iterable[Cause]:
    """Resolvers answering a name with other records than its authoritative servers all
    give now (a rollback, a moved service), until the TTL of what they cached."""

    def old(r: ProbeResult, name: NameHealth) -> bool:
        now = _authority_answers(name)
        return (
            r.result in (Result.OK, Result.WRONG_ANSWER) and bool(r.answers)
            and len(now) == 1 and r.answers not in now and r.ttl is not None
        )  # fmt: skip

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
            and bool(_authority_answers(name))
        )

    for server, results in _by_resolver(world, remembered).items():
        yield _cause(world, CauseKind.SERVFAIL_CACHED, server, results, "SERVFAIL",
                     [None for _ in results], negative=True)  # fmt: skip


def _authority_answers(name: NameHealth) -> set[tuple[str, ...]]:
    return authority_answers(name.results)


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
