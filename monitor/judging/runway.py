"""Cache runway: how long resolvers can still hide a lost authority. Pure.

The authority for a name is lost when, for some zone along its CNAME chain, no
authoritative server gives the right answer any more: every one fails (the zone is dark),
or every one answers the name wrongly (a bad zone load: NXDOMAIN, NODATA, another
answer). A resolver has lost it on its own when its canary under such a zone fails, or
when it says its answer is stale. While that holds, every answer a resolver still hands
out comes from its cache, and stops when the cache runs out: after the TTL it handed
out, plus its ``serve_stale`` window if it serves expired answers. A stale answer has
only what is left of that window, unknown when ``serve_stale`` is not configured.

``check`` judges one round; ``serve`` and ``watch`` keep a ``RunwayClock`` that anchors
each answer's end at the round it was first seen, so a runway counts down steadily and
never grows while the answer it follows lasts. When that answer runs out and another
still holds (resolver-a's cache ran out, resolver-b serves its stale copy), the runway
must rise: the clock says why, naming what ran out and what the countdown follows now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from monitor.judging.graph import Chains, Graph
from monitor.probing.plan import NameKey
from monitor.probing.results import ProbeResult
from monitor.states import Result

Results = Mapping[tuple[str, str, str], ProbeResult]


@dataclass(frozen=True)
class CachedAnswer:
    """One resolver still answering a name whose authority it has lost."""

    key: NameKey
    server: str
    seconds: float | None  # until this answer stops; None: unknown
    stale: bool  # it already says its answer is expired (EDE 3)
    why: str  # why its authority counts as lost

    @property
    def known(self) -> bool:
        return self.seconds is not None


@dataclass(frozen=True)
class LostAuthority:
    """A zone along a name's chain whose authoritative servers no longer answer it right."""

    zone: str
    dark: bool  # every authoritative server fails, not just for this name
    detail: str  # what the servers said: "ns1 timeout, ns2 timeout"


def lost_authority(
    graph: Graph, key: NameKey, chains: Chains, results: Results, dark: Mapping[str, bool]
) -> list[LostAuthority]:
    """The zones along ``key``'s chain whose authoritative servers give no right answer."""
    lost = []
    for zone, asked in _asked_in_zones(graph, key, chains):
        servers = graph.zone_servers(zone)
        found = [results.get((asked, key[1], s.key)) for s in servers]
        answers = [r for r in found if r is not None]
        if dark.get(zone):
            detail = said(answers) or "no authoritative server answers"
            lost.append(LostAuthority(zone, True, detail))
        elif answers and len(answers) == len(servers) and not any(r.ok for r in answers):
            lost.append(LostAuthority(zone, False, said(answers)))
    return lost


def said(answers: Iterable[ProbeResult]) -> str:
    """What the servers said: ``ns1 timeout, ns2 timeout``."""
    return ", ".join(f"{r.query.server.name} {r.result}" for r in answers)


def _asked_in_zones(graph: Graph, key: NameKey, chains: Chains) -> list[tuple[str, str]]:
    """(zone, the name asked of its authoritative servers) for each zone along the chain."""
    pairs = []
    own = graph.zone_of(key[0])
    if own is not None:
        pairs.append((own, key[0]))
    pairs += [(zone, target) for target, zone in graph.layout.chain_entries(
        key[0], graph.chain_of(key, chains))]  # fmt: skip
    return pairs


def cached_answers(
    graph: Graph,
    key: NameKey,
    own: list[ProbeResult],
    lost: list[LostAuthority],
    unreached: Mapping[str, list[str]],
) -> list[CachedAnswer]:
    """The resolvers still answering ``key`` from cache alone, with how long they last.

    ``unreached`` maps a resolver to the zones (along this name's chain) its canary
    could not reach.
    """
    cached = []
    for r in own:
        if not r.recursive or not r.serves_clients:
            continue
        why = _why_lost(r, lost, unreached.get(r.query.server.name, []))
        if why:
            cached.append(
                CachedAnswer(key, r.query.server.name, _left(r), r.result is Result.STALE, why)
            )
    return cached


def _why_lost(r: ProbeResult, lost: list[LostAuthority], unreached: list[str]) -> str:
    if lost:
        return "; ".join(_lost_text(item) for item in lost)
    if unreached:
        return f"{r.query.server.name} cannot reach the authority of {', '.join(unreached)}"
    if r.result is Result.STALE:
        return f"{r.query.server.name} answers from expired cache"
    return ""


def _lost_text(lost: LostAuthority) -> str:
    if lost.dark:
        return f"no authoritative server of {lost.zone} answers ({lost.detail})"
    return f"the authoritative servers of {lost.zone} no longer give the answer ({lost.detail})"


def _left(r: ProbeResult) -> float | None:
    """How long this answer can last, as one round shows it."""
    window = r.query.server.serve_stale
    if r.result is Result.STALE:
        return window  # at most the whole window: when it began is not known from one round
    ttl = float(r.ttl or 0)
    return ttl + window if window is not None else ttl


def runway(cached: list[CachedAnswer]) -> int | None:
    """Seconds until the first of these answers stops, as far as known."""
    first = first_to_stop(cached)
    return None if first is None or first.seconds is None else int(first.seconds)


def first_to_stop(cached: list[CachedAnswer]) -> CachedAnswer | None:
    """The answer whose known end comes first, if any end is known."""
    known = [c for c in cached if c.seconds is not None]
    return min(known, key=lambda c: c.seconds or 0.0) if known else None


@dataclass(frozen=True)
class Countdown:
    """What a service's runway follows: one resolver's cached answer, or the copies of a
    zone on its secondaries. ``servers`` are the ones whose answers it rests on, and
    ``key`` the name asked of them (the zone's SOA for copies)."""

    by: str  # "resolver-b's expired answer for ehr.region.internal A (serve-stale)"
    servers: tuple[str, ...]
    key: NameKey
    copies: bool = False  # secondaries' copies of a zone, not a resolver's cached answer

    @property
    def ended(self) -> str:
        """What is said of it once its time is up."""
        return "may have expired" if self.copies else "ran out"


def cache_countdown(answer: CachedAnswer) -> Countdown:
    what = "expired answer" if answer.stale else "cached answer"
    stale = " (serve-stale)" if answer.stale else ""
    return Countdown(
        f"{answer.server}'s {what} for {answer.key[0]} {answer.key[1]}{stale}",
        (answer.server,), answer.key,
    )  # fmt: skip


def copies_countdown(zone: str, secondaries: tuple[str, ...]) -> Countdown:
    by = f"the copies of {zone} on {', '.join(secondaries)}"
    return Countdown(by, secondaries, (zone, "SOA"), copies=True)


RISE_SLACK = 1.5  # seconds: runways are whole seconds, rounds start a little late


@dataclass
class _Counted:
    end: float
    countdown: Countdown
    rose: str  # why it rose to this countdown; kept while it follows the same answer


class RunwayClock:
    """Each cached answer's end, anchored at the round it was first seen.

    The TTLs a resolver hands out count down with it, and a stale window does not
    restart each round, so the end seen first holds unless a later round shows it
    sooner; an answer that outlives its anchored end has an unknown end from then on.
    """

    def __init__(self) -> None:
        self.ends: dict[tuple[NameKey, str], float | None] = {}
        self.services: dict[str, _Counted] = {}  # each service's runway, while not up

    def rise(
        self,
        service: str,
        now: float,
        seconds: int | None,
        countdown: Countdown | None,
        settled: bool,
        now_answers: Callable[[Countdown], str],
    ) -> str:
        """Why ``service``'s runway ends later than it did a round ago, or ``""``.

        ``settled``: the service is up or down, and its countdown is over. While it is
        degraded without a runway, the last end is kept, so a countdown that returns later
        (a secondary's copy gave way to the caches) is still explained. ``now_answers``
        says what the servers behind a countdown answer this round.
        """
        before = self.services.get(service)
        if settled:
            self.services.pop(service, None)
            return ""
        if seconds is None or countdown is None:
            return ""
        rose = ""
        if before is not None and now + seconds > before.end + RISE_SLACK:
            if before.countdown == countdown:  # the same answer, fetched again: a fresh TTL
                rose = f"{countdown.by} was fetched again ({now_answers(countdown)})"
            else:
                rose = (f"{before.countdown.by} {before.countdown.ended} "
                        f"({now_answers(before.countdown)}); "
                        f"the countdown now follows {countdown.by}")  # fmt: skip
        elif before is not None and before.countdown == countdown:
            rose = before.rose
        self.services[service] = _Counted(now + seconds, countdown, rose)
        return rose

    def observe(self, now: float, cached: list[CachedAnswer]) -> list[CachedAnswer]:
        """The same answers with ``seconds`` counted from their anchored ends."""
        ends: dict[tuple[NameKey, str], float | None] = {}
        out = []
        for answer in cached:
            slot = (answer.key, answer.server)
            end = self._end(self.ends.get(slot), answer, now)
            ends[slot] = end
            left = None if end is None or end < now else end - now
            out.append(replace(answer, seconds=left))
        self.ends = ends  # answers no longer cached (authority back, or failed) are forgotten
        return out

    @staticmethod
    def _end(previous: float | None, answer: CachedAnswer, now: float) -> float | None:
        estimate = None if answer.seconds is None else now + answer.seconds
        if previous is None:  # first seen, or its end was unknown so far
            return estimate
        if estimate is None:
            return previous
        if previous < now and not answer.stale:
            return estimate  # the cache plainly held longer than it said: a fresh TTL
        return min(previous, estimate)
