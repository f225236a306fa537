"""A caching "resolver" for `dnsmon demo`: forwards to authoritative servers, caches.

It behaves as the demo needs a real resolver to behave: it hands out the *remaining* TTL
from its cache, counting down, and keeps answering from cache after every upstream has
failed — until the cached answer expires. Then it answers SERVFAIL, as Unbound does with
`serve-expired: no` (its default). Unbound first spends several seconds retrying, so a
probe with a short timeout often sees `timeout` instead; this resolver gives up after one
short attempt per upstream so the demo's story stays quick and clear.

With ``stale_seconds`` it serves expired answers for that long once no upstream answers
(as Unbound's ``serve-expired-ttl`` or BIND's ``max-stale-ttl``): TTL 30 and Extended DNS
Error 3 "Stale Answer", the way both say so.

It forwards each question as asked and does not chase a CNAME into a zone its upstreams
do not serve: the demo zones keep every alias and its target in the same zone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rrset

from monitor.demo.authoritative import OUR_EDNS_PAYLOAD, DnsServer, accept_query, rrset_with_ttl

UPSTREAM_TIMEOUT_SECONDS = 0.4
STALE_TTL = 30  # what Unbound and BIND hand out with an expired answer
CACHEABLE_RCODES = (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)

CacheKey = tuple[
    dns.name.Name, dns.rdatatype.RdataType
]  # (name, rdtype); the demo serves class IN only


@dataclass(frozen=True)
class CachedAnswer:
    """One upstream answer as stored: its records and when it was stored and expires."""

    rcode: dns.rcode.Rcode
    answer: list[dns.rrset.RRset]
    authority: list[dns.rrset.RRset]
    stored_at: float
    expires_at: float


class AnswerCache:
    """Positive and negative answers, each kept for its TTL (RFC 2308 for negatives)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[CacheKey, CachedAnswer] = {}
        self._lock = threading.Lock()

    def get(self, key: CacheKey, stale_seconds: float = 0.0) -> CachedAnswer | None:
        """The cached answer for `key` if it has not expired yet, or expired less than
        `stale_seconds` ago."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at + stale_seconds <= self._clock():
                del self._entries[key]
                return None
            return entry

    def expired(self, entry: CachedAnswer) -> bool:
        return entry.expires_at <= self._clock()

    def put(self, key: CacheKey, response: dns.message.Message) -> CachedAnswer:
        """Store an upstream answer (if it may be cached at all) and return it as stored."""
        now = self._clock()
        ttl = cache_ttl(response)
        entry = CachedAnswer(
            rcode=response.rcode(),
            answer=list(response.answer),
            authority=list(response.authority),
            stored_at=now,
            expires_at=now + ttl,
        )
        if ttl > 0:
            with self._lock:
                self._entries[key] = entry
        return entry

    def remaining(self, entry: CachedAnswer, ttl: int) -> int:
        """What is left of a record's `ttl`, counting down whole seconds since storing."""
        return max(0, ttl - int(self._clock() - entry.stored_at))

    def clear(self) -> None:
        """Forget everything, as after a resolver restart."""
        with self._lock:
            self._entries.clear()


def cache_ttl(response: dns.message.Message) -> int:
    """How long an answer may be cached: its shortest TTL, or the SOA's for a negative one."""
    if response.answer and response.rcode() == dns.rcode.NOERROR:
        return min(rrset.ttl for rrset in response.answer)
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            minimum = cast(dns.rdtypes.ANY.SOA.SOA, rrset[0]).minimum
            return min(rrset.ttl, minimum)
    return 0  # a negative answer without an SOA must not be cached (RFC 2308 section 5)


class CachingResolver(DnsServer):
    """A recursive server for clients: answers from its cache, else asks its upstreams.

    `upstreams` are (address, port) pairs of authoritative servers, tried in order.
    """

    def __init__(
        self,
        upstreams: Iterable[tuple[str, int]],
        address: str = "127.0.0.1",
        port: int = 0,
        timeout: float = UPSTREAM_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        stale_seconds: float = 0.0,
    ) -> None:
        super().__init__(address, port)
        self.upstreams = list(upstreams)
        self.timeout = timeout
        self.stale_seconds = stale_seconds
        self.cache = AnswerCache(clock)

    def respond(self, query: dns.message.Message) -> dns.message.Message:
        """Answer from cache with the remaining TTL; on a miss, forward and cache."""
        response = dns.message.make_response(
            query, recursion_available=True, our_payload=OUR_EDNS_PAYLOAD
        )
        if not accept_query(query, response):
            return response
        question = query.question[0]
        key: CacheKey = (question.name, question.rdtype)
        cached = self.cache.get(key, self.stale_seconds)
        fresh = cached if cached is not None and not self.cache.expired(cached) else None
        entry = fresh or self._fetch(key)
        if entry is not None:
            self._fill(response, entry)
        elif cached is not None:  # the authority is gone: serve the expired answer, say so
            self._fill(response, cached, stale=True)
            response.use_edns(
                0,
                payload=OUR_EDNS_PAYLOAD,
                options=[dns.edns.EDEOption(dns.edns.EDECode.STALE_ANSWER)],
            )
        else:
            response.set_rcode(dns.rcode.SERVFAIL)  # no upstream answered, nothing cached
        return response

    def flush(self) -> None:
        """Empty the cache."""
        self.cache.clear()

    def _fill(
        self, response: dns.message.Message, entry: CachedAnswer, stale: bool = False
    ) -> None:
        response.set_rcode(entry.rcode)
        for source, target in (
            (entry.answer, response.answer),
            (entry.authority, response.authority),
        ):
            for rrset in source:
                ttl = STALE_TTL if stale else self.cache.remaining(entry, rrset.ttl)
                target.append(rrset_with_ttl(rrset.name, rrset, ttl))

    def _fetch(self, key: CacheKey) -> CachedAnswer | None:
        for address, port in self.upstreams:
            upstream = self._ask(key, address, port)
            if upstream is not None and upstream.rcode() in CACHEABLE_RCODES:
                return self.cache.put(key, upstream)
        return None

    def _ask(self, key: CacheKey, address: str, port: int) -> dns.message.Message | None:
        query = dns.message.make_query(key[0], key[1], use_edns=0, payload=OUR_EDNS_PAYLOAD)
        query.flags &= ~dns.flags.RD  # authoritative servers do not recurse; do not ask them to
        try:
            response = dns.query.udp(query, address, timeout=self.timeout, port=port)
            if response.flags & dns.flags.TC:
                response = dns.query.tcp(query, address, timeout=self.timeout, port=port)
        except (dns.exception.DNSException, OSError, ValueError):
            return None  # timed out, refused the connection, or sent garbage: next upstream
        return response
