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
from monitor.judging.clocks import Expiry
from monitor.judging.commands import retransfer
from monitor.judging.health import ZoneHealth
from monitor.probing import ede
from monitor.probing.plan import NameKey
from monitor.probing.results import ProbeResult
from monitor.states import Result


def zone_expired(world: World) -> Iterable[Cause]:
    """Secondaries whose copy of a zone expired: SERVFAIL (NSD adds EDE 24) while their
    primary is silent or since their copies ran out. They answer: not a lost authority,
    and not a broken zone file."""
    for zone in world.health.zones.values():
        expired = _expired_copies(zone)
        if not expired:
            continue
        explains, tail = _answering_servfail(world, zone.name, expired, zone.dark)
        one = len(expired) == 1
        copies = f"{and_words(expired)}'{'' if expired[-1].endswith('s') else 's'} "
        copies += f"{'copy' if one else 'copies'} of {zone.name}"
        primary = zone.primary or "its primary"
        timers = zone.copies.timers if zone.copies else None
        if zone.expiry is not None and zone.expiry.primary_silent:
            why = f"{primary}, its primary, does not answer: bring it back, then transfer now"
        else:
            retry = f" (every {duration_words(timers.retry)})" if timers else ""
            why = (f"{primary} answers again, but a secondary asks only at its "
                   f"retry{retry}: transfer now")  # fmt: skip
        commands = _retransfer(world, zone.name, expired)
        summary = f"{copies} expired: {'it answers' if one else 'they answer'} SERVFAIL; {why}"
        since = summary.replace(" expired:", " expired at {time}:")
        yield Cause(CauseKind.ZONE_EXPIRED, zone.name, summary, (), since, tail,
                    frozenset(explains), commands=commands)  # fmt: skip


def _expired_copies(zone: ZoneHealth) -> list[str]:
    """Secondaries answering SERVFAIL for the zone because their copy ran out."""
    primaries = zone.copies.primaries if zone.copies else ()
    return sorted(
        server for server, soa in zone.soa_results.items()
        if server not in primaries and (
            ede.EXPIRED in ede.codes(soa.ede)
            or (soa.result is Result.SERVFAIL and zone.expiry is not None
                and zone.expiry.seconds <= 0)  # not before the copy can have expired
        )
    )  # fmt: skip


def zone_not_loaded(world: World) -> Iterable[Cause]:
    """Authoritative servers that answer SERVFAIL for a zone of their own: it did not
    load (a broken zone file, a failed transfer). Not a reachability fault: they answer."""
    for zone in world.health.zones.values():
        broken = sorted(s for s, soa in zone.soa_results.items() if soa.result is Result.SERVFAIL)
        if not broken:
            continue
        whole = set(broken) == set(zone.failing_servers) and zone.dark
        explains, tail = _answering_servfail(world, zone.name, broken, whole)
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


def _answering_servfail(
    world: World, zone: str, servers: list[str], whole: bool
) -> tuple[set[Symptom], str]:
    """What authoritative ``servers`` answering SERVFAIL for ``zone`` explain — with
    ``whole``, every failure of the zone (nobody serves it now) — and the cache tail."""
    names = world.along(zone)
    explains: set[Symptom] = {
        r.query.key for r in world.bad if r.query.server.name in servers
        and (r.query.zone == zone or asks_along(world, r, zone))
    }  # fmt: skip
    if not whole:
        return explains, ""
    explains |= _zone_symptoms(world, zone, names)
    return explains, world.runway_tail(names) or "; resolver caches no longer hide it"


def _zone_symptoms(world: World, zone: str, names: list[NameKey]) -> set[Symptom]:
    """Every failure a zone without a working authoritative server explains."""
    explains: set[Symptom] = {
        r.query.key for r in world.bad if r.query.zone == zone or asks_along(world, r, zone)
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
        cut_off |= {
            r.query.server.name for r in world.no_authority if asks_along(world, r, zone.name)
        }
        if not cut_off:
            continue
        explains: set[Symptom] = {
            r.query.key
            for r in world.bad
            if r.query.server.name in cut_off
            and (r.query.zone == zone.name or asks_along(world, r, zone.name))
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
        bare = r.recursive and r.result is Result.SERVFAIL and not r.ede  # BIND says no more
        if said or (bare and _signed_and_well(world, zone)):
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


def zone_expiring(world: World) -> Iterable[Cause]:
    """A clock: secondaries' copies that run out unless their primary answers again (or
    they catch up with it), with the time left at the earliest and at the latest."""
    for zone in world.health.zones.values():
        expiry = zone.expiry
        if expiry is None or _expired_copies(zone):
            continue  # none running out, or expired already (``zone_expired``)
        primary = zone.primary or "its primary"
        behind = and_words(list(expiry.behind))
        if expiry.primary_silent:
            why = f"{primary}, the primary of {zone.name}, does not answer"
        else:
            why = (f"{behind} {'has' if len(expiry.behind) == 1 else 'have'} stayed behind "
                   f"{primary}'s serial for {duration_words(expiry.behind_seconds)}: "
                   "transfers fail")  # fmt: skip
        summary = f"{why}; the copies on {behind} {copies_left_words(expiry)}, then every name "
        summary += f"in {zone.name} fails there"
        commands = () if expiry.primary_silent else _retransfer(world, zone.name, expiry.behind)
        yield Cause(CauseKind.ZONE_EXPIRING, zone.name, summary, world.needing(zone.name),
                    seconds=max(0, expiry.seconds), commands=commands)  # fmt: skip


def copies_left_words(expiry: Expiry) -> str:
    """``expire in 2 hours at the earliest`` or ``may expire at any moment …``."""
    latest = f", and in {duration_words(max(0, expiry.at_most))} at the latest" if (
        expiry.at_most is not None) else ""  # fmt: skip
    if not expiry.known:
        return f"may expire at any moment (not seen in step with it yet){latest}"
    if expiry.seconds <= 0:
        return f"may expire at any moment{latest}"
    return f"expire in {duration_words(expiry.seconds)} at the earliest{latest}"


def _retransfer(world: World, zone: str, servers: Iterable[str]) -> tuple[str, ...]:
    """The commands that make these secondaries transfer ``zone`` now."""
    wanted = set(servers)
    found = [s for s in world.graph.zone_servers(zone) if s.name in wanted]
    return tuple(dict.fromkeys(c for s in found for c in retransfer(s, zone)))


def serial_regressed(world: World) -> Iterable[Cause]:
    """A primary whose serial is older than its secondaries' (an old zone file restored,
    a serial typed wrong): they keep their newer copy and take none of its changes, until
    their copies expire (SOA expire after they last agreed) and they load the older zone
    (NSD 4.6 and BIND 9.18 both do)."""
    for zone in world.health.zones.values():
        ahead = zone.copies.ahead_of_primary() if zone.copies else {}
        if not ahead or zone.copies is None:
            continue
        newest = max(ahead.values())
        theirs = ", ".join(f"{s} {v}" for s, v in sorted(ahead.items()))
        summary = (
            f"{zone.primary}, the primary of {zone.name}, serves serial "
            f"{zone.copies.primary_serial}, older than its secondaries' ({theirs}): they keep "
            "their newer copy and take none of its changes, then load its older zone once "
            f"their copies expire; raise the serial on {zone.primary} above {newest} (do not "
            "lower the secondaries')"
        )
        names = world.along(zone.name)
        explains: set[Symptom] = {("serials", zone.name)} | {("differs", k) for k in names}
        explains |= {
            r.query.key for r in world.bad
            if not r.recursive and r.query.zone == zone.name and r.result in WRONG
        }  # fmt: skip
        yield Cause(CauseKind.SERIAL_REGRESSED, zone.name, summary, (), "", "",
                    frozenset(explains))  # fmt: skip


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
