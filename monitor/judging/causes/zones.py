"""Finders of faults in zones and their authoritative servers."""

from __future__ import annotations

from collections.abc import Iterable

from monitor.judging.causes.world import (
    SILENT,
    WRONG,
    Cause,
    CauseKind,
    Symptom,
    World,
    and_words,
    asks_along,
    duration_words,
)
from monitor.probing import ede
from monitor.probing.plan import NameKey
from monitor.probing.results import ProbeResult
from monitor.states import Result


def zone_not_loaded(world: World) -> Iterable[Cause]:
    """Authoritative servers that answer SERVFAIL for a zone of their own: it did not
    load (a broken zone file, a failed transfer). Not a reachability fault: they answer."""
    for zone in world.health.zones.values():
        broken = sorted(s for s, soa in zone.soa_results.items() if soa.result is Result.SERVFAIL)
        if not broken:
            continue
        names = world.along(zone.name)
        explains = {
            r.query.key for r in world.bad if r.query.server.name in broken
            and (r.query.zone == zone.name or asks_along(world, r, names))
        }  # fmt: skip
        tail = ""
        if set(broken) == set(zone.failing_servers) and zone.dark:
            explains |= _zone_symptoms(world, zone.name, names)  # nobody serves it now
            tail = world.runway_tail(names) or "; resolver caches no longer hide it"
        one = len(broken) == 1
        who = and_words(broken)
        summary = (
            f"{who} {'answers' if one else 'answer'} SERVFAIL for {zone.name}, a zone "
            f"{'it serves' if one else 'they serve'}: the zone is not loaded (a broken zone "
            "file, or a failed transfer)"
        )
        since = summary.replace(": the zone is not loaded", " since {time}: the zone is not loaded")
        yield Cause(CauseKind.ZONE_NOT_LOADED, zone.name, summary, (), since, tail,
                    frozenset(explains))  # fmt: skip


def _zone_symptoms(world: World, zone: str, names: list[NameKey]) -> set[Symptom]:
    """Every failure a zone without a working authoritative server explains."""
    explains: set[Symptom] = {
        r.query.key for r in world.bad if r.query.zone == zone or asks_along(world, r, names)
    }
    return explains | world.cached(names)


def zone_dark(world: World) -> Iterable[Cause]:
    for zone in world.health.zones.values():
        if not zone.dark:
            continue
        servers = set(zone.failing_servers)
        names = world.along(zone.name)
        explains = _zone_symptoms(world, zone.name, names)
        who = and_words(sorted(servers))
        only = "the only authoritative server"
        only += "" if len(servers) == 1 else "s"
        verb = "does not answer" if len(servers) == 1 else "do not answer"
        silent = all(
            r.result in SILENT for r in world.results if r.query.key in explains and not r.recursive
        )
        summary = (
            f"{who}, {only} of {zone.name}, {verb}"
            if silent
            else (f"{who}, {only} of {zone.name}, fail")
        )
        since = f"{who}, {only} of {zone.name}, stopped answering at {{time}}"
        tail = world.runway_tail(names) or "; resolver caches no longer hide it"
        yield Cause(CauseKind.ZONE_DARK, zone.name, summary, (), since, tail, frozenset(explains))


def authority_unreachable(world: World) -> Iterable[Cause]:
    for zone in world.health.zones.values():
        if zone.dark:
            continue
        names = world.along(zone.name)
        refusing = {  # a refusal is the resolver's own answer, not a lost way (``refused``)
            r.query.server.name for r in world.bad
            if r.query.zone == zone.name and r.result is Result.REFUSED
        }  # fmt: skip
        cut_off = {
            s for s, ok in zone.reach.items()
            if not ok and world.facts[s].answered and s not in refusing
        }  # fmt: skip
        cut_off |= {r.query.server.name for r in world.no_authority if asks_along(world, r, names)}
        if not cut_off:
            continue
        explains: set[Symptom] = {
            r.query.key
            for r in world.bad
            if r.query.server.name in cut_off
            and (r.query.zone == zone.name or asks_along(world, r, names))
        }
        explains |= world.cached(names, cut_off)
        who = and_words(sorted(cut_off))
        verb = "answers" if len(cut_off) == 1 else "answer"
        their = "its" if len(cut_off) == 1 else "their"
        fail = f"names not in {their} cache fail"
        summary = f"{who} {verb} but cannot reach the authoritative servers of {zone.name}: {fail}"
        since = (
            f"{who} lost the way to the authoritative servers of {zone.name} at {{time}}: {fail}"
        )
        yield Cause(CauseKind.AUTHORITY_UNREACHABLE, zone.name, summary, (), since,
                    world.runway_tail(names), frozenset(explains))  # fmt: skip


def dnssec(world: World) -> Iterable[Cause]:
    """Resolvers that reject a zone's signatures: SERVFAIL with a DNSSEC EDE (1–12;
    Unbound sends 6), or without one (BIND sends none) for a signed zone whose
    authoritative servers answer well. Tried before reachability: a bogus zone is never
    reported as one the resolvers cannot reach (its canaries fail too)."""
    by_zone: dict[str, list[ProbeResult]] = {}
    for r in world.bad:
        zone = r.query.zone or world.graph.fate_zone(r.query.name)
        said = ede.codes(r.ede) & ede.DNSSEC
        if said or (r.recursive and r.result is Result.SERVFAIL and _signed_and_well(world, zone)):
            by_zone.setdefault(zone, []).append(r)
    for zone, found in sorted(by_zone.items()):
        codes = sorted({str(e) for r in found for e in r.ede if e.code in ede.DNSSEC})
        servers = sorted({r.query.server.name for r in found})
        verb = "rejects" if len(servers) == 1 else "reject"
        why = "; ".join(codes) or "SERVFAIL while its authoritative servers answer well"
        summary = f"{and_words(servers)} {verb} the DNSSEC of {zone} ({why})"
        left = _signatures_left(world, zone)
        if left is not None and left <= 0:
            summary += f": its signatures expired {duration_words(-left)} ago; re-sign the zone"
        names = world.along(zone)
        explains = {r.query.key for r in found} | world.cached(names, set(servers))
        yield Cause(CauseKind.DNSSEC, zone, summary, (), "", "", frozenset(explains))


def _signed_and_well(world: World, zone: str) -> bool:
    """A zone dnsmon saw signatures of this round, all of whose authoritative servers
    answer: a resolver's SERVFAIL there is its validation's."""
    health = world.health.zones.get(zone)
    return (
        health is not None
        and health.signatures_expire_in_seconds is not None
        and not health.failing_servers
    )


def _signatures_left(world: World, zone: str) -> int | None:
    health = world.health.zones.get(zone)
    return health.signatures_expire_in_seconds if health is not None else None


def signatures_expiring(world: World) -> Iterable[Cause]:
    """A clock, not a fault yet: zones whose signatures expire within ``warn_before``
    (or have expired), with the services that need them and the time left."""
    warn_before = world.graph.config.defaults.warn_before
    for zone in world.health.zones.values():
        left = zone.signatures_expire_in_seconds
        if left is None or left > warn_before:
            continue
        if left > 0:
            when = f"expire in {duration_words(left)}"
        else:
            when = f"expired {duration_words(-left)} ago"
        summary = (
            f"the signatures of {zone.name} {when}: re-sign the zone before then, or every "
            "validating resolver answers SERVFAIL for every name in it"
        )
        yield Cause(CauseKind.SIGNATURES_EXPIRING, zone.name, summary,
                    world.needing(zone.name), seconds=max(0, left))  # fmt: skip


def serials_differ(world: World) -> Iterable[Cause]:
    for zone in world.health.zones.values():
        if zone.consistent:
            continue
        names = world.along(zone.name)
        explains: set[Symptom] = {("serials", zone.name)}
        explains |= {("differs", k) for k in names}
        explains |= {
            r.query.key
            for r in world.bad
            if not r.recursive and r.query.zone == zone.name and r.result in WRONG
        }
        serials = ", ".join(f"{s} {v}" for s, v in zone.serials.items() if v is not None)
        summary = (
            f"the authoritative servers of {zone.name} serve different versions ({serials}): "
            "a secondary may have stopped transferring"
        )
        yield Cause(CauseKind.SERIALS_DIFFER, zone.name, summary, (), "", "", frozenset(explains))
