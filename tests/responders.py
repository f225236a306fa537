"""In-process DNS responders that answer from a zone, each with one quirk.

Where servers.py runs real servers, a ZoneResponder is a small Python server (UDP and
TCP on 127.0.0.1, background threads) for behaviour no real server here shows on
demand: an old appliance that rejects EDNS, a resolver that says why it failed with
EDE options, a resolver that lost recursion, a parent that only refers.

    with ZoneResponder("formerr_edns") as old_box:
        ask(old_box, "ehr-db.region.internal").rcode()               # FORMERR
        ask(old_box, "ehr-db.region.internal", payload=None)         # answered, AA
        assert old_box.edns_queries == 1 and old_box.plain_queries == 1

Modes (`mode` may be changed while running):

- plain: an authoritative server: AA=1, RA=0, the zone's answer, referral, NODATA or
  NXDOMAIN; REFUSED for names outside the zone. EDNS is echoed.
- formerr_edns / notimp_edns: a query with an OPT record gets FORMERR / NOTIMP and no
  OPT back; a query without EDNS is answered as in plain.
- badvers: a query with an OPT record gets extended rcode BADVERS, OPT version 0 and
  nothing else; a query without EDNS is answered as in plain.
- ede: a resolver that explains itself: RA=1, AA=0, rcode `rcode` and one EDE option
  per (code, text) in `ede` (only when the query had EDNS, which EDE needs). With
  NOERROR the zone's answer is given (or its NXDOMAIN, or REFUSED outside the zone),
  every answer TTL set to `ttl` if given; e.g.
  ZoneResponder("ede", **STALE) answers like a resolver serving stale data.
- no_recursion: a resolver that lost recursion: it still answers its own zone
  authoritatively (AA=1, RA=0) to RD=1 queries and REFUSED (RA=0) everything else,
  exactly as plain does.
- referral: a parent: every name at or below `child` gets a referral (NOERROR, AA=0,
  the child's NS records in authority, their glue in additional). Constructed in this
  mode (or with `child` given) the zone delegates `child` to the `glue` addresses, by
  default sub.region.internal to ns.sub.region.internal at 127.0.0.2; names outside
  the child are answered as in plain.

`received` records every query (name, type, EDNS version or None, RD, transport), so a
test can assert that a client fell back from EDNS to plain DNS.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
from servers import LOOPBACK, Responder
from zones import REGION, SUB, SUB_SERVER, region_zone

QuirkMode = Literal[
    "plain", "formerr_edns", "notimp_edns", "badvers", "ede", "no_recursion", "referral"
]
QUIRK_MODES: tuple[QuirkMode, ...] = (
    "plain",
    "formerr_edns",
    "notimp_edns",
    "badvers",
    "ede",
    "no_recursion",
    "referral",
)

EdeList = Sequence[tuple[int, str | None]]

# Keyword arguments for ZoneResponder("ede", ...): the two cases tests need most.
NO_REACHABLE_AUTHORITY: dict[str, Any] = {
    "rcode": dns.rcode.SERVFAIL,
    "ede": [(dns.edns.EDECode.NO_REACHABLE_AUTHORITY, "No Reachable Authority")],
}
STALE: dict[str, Any] = {
    "rcode": dns.rcode.NOERROR,
    "ede": [(dns.edns.EDECode.STALE_ANSWER, "Stale Answer")],
    "ttl": 30,
}

_MAX_CHAIN = 8  # CNAME links followed inside the zone


@dataclass(frozen=True)
class Received:
    """One query as the responder saw it."""

    qname: str
    rdtype: str
    edns: int | None  # the EDNS version, None when the query had no OPT record
    rd: bool
    tcp: bool


class ZoneResponder(Responder):
    """Answers from `zone` (zone-file text for `origin`; region.internal by default)
    with the quirk `mode` selects; see the module docstring."""

    def __init__(
        self,
        mode: QuirkMode = "plain",
        zone: str | None = None,
        origin: str = REGION,
        *,
        tcp: bool = True,
        port: int | None = None,
        address: str = LOOPBACK,
        rcode: int = dns.rcode.SERVFAIL,
        ede: EdeList = NO_REACHABLE_AUTHORITY["ede"],
        ttl: int | None = None,
        child: str | None = None,
        glue: Mapping[str, str] | None = None,
    ) -> None:
        if mode not in QUIRK_MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {QUIRK_MODES}")
        super().__init__(tcp=tcp, port=port, address=address)
        self.mode: QuirkMode = mode
        self.origin = dns.name.from_text(origin)
        self.zone = dns.zone.from_text(
            zone if zone is not None else region_zone(),
            origin=self.origin,
            relativize=False,
            check_origin=False,
        )
        self.rcode = rcode
        self.ede = list(ede)
        self.ttl = ttl
        if child is not None or mode == "referral":
            child = child or SUB
            self._delegate(
                dns.name.from_text(child), glue or {f"ns.{child.rstrip('.')}": SUB_SERVER}
            )
        self.received: list[Received] = []
        self._lock = threading.Lock()

    @property
    def edns_queries(self) -> int:
        """Queries received with an OPT record."""
        return sum(1 for r in self.received if r.edns is not None)

    @property
    def plain_queries(self) -> int:
        """Queries received without EDNS."""
        return sum(1 for r in self.received if r.edns is None)

    def _delegate(self, child: dns.name.Name, glue: Mapping[str, str]) -> None:
        """Add NS records for `child` and A records for their glue to the zone."""
        if not child.is_subdomain(self.origin) or child == self.origin:
            raise ValueError(f"{child} is not below {self.origin}")
        with self.zone.writer() as txn:
            for ns, address in glue.items():
                ns_name = dns.name.from_text(ns)
                txn.add(dns.rrset.from_text(child, 300, "IN", "NS", ns_name.to_text()))
                txn.add(dns.rrset.from_text(ns_name, 300, "IN", "A", address))

    def reply(self, wire: bytes, tcp: bool = False) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        with self._lock:
            self.queries += 1
            self.received.append(
                Received(
                    question.name.to_text(),
                    dns.rdatatype.to_text(question.rdtype),
                    query.edns if query.edns >= 0 else None,
                    bool(query.flags & dns.flags.RD),
                    tcp,
                )
            )
        response = self.respond(query)
        limit = 65535 if tcp else (max(query.payload, 512) if query.edns >= 0 else 512)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            for section in (response.answer, response.authority, response.additional):
                section.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()

    def respond(self, query: dns.message.Message) -> dns.message.Message:
        """The response to one parsed query, in the current mode."""
        response = dns.message.make_response(query)
        has_edns = query.edns >= 0
        if has_edns and self.mode in ("formerr_edns", "notimp_edns"):
            response.use_edns(False)
            response.set_rcode(
                dns.rcode.FORMERR if self.mode == "formerr_edns" else dns.rcode.NOTIMP
            )
            return response
        if has_edns and self.mode == "badvers":
            response.use_edns(0, payload=1232)
            response.set_rcode(dns.rcode.BADVERS)
            return response
        if self.mode == "ede":
            return self._resolver_answer(query, response)
        self._authoritative(query, response)
        return response

    def _resolver_answer(
        self, query: dns.message.Message, response: dns.message.Message
    ) -> dns.message.Message:
        response.flags |= dns.flags.RA
        rcode = self.rcode
        if rcode == dns.rcode.NOERROR:
            self._authoritative(query, response)
            rcode = response.rcode()  # NXDOMAIN or REFUSED stay what they are
            response.flags &= ~dns.flags.AA
            if self.ttl is not None:
                for rrset in response.answer:
                    rrset.ttl = self.ttl
        if query.edns >= 0:
            options = [dns.edns.EDEOption(code, text) for code, text in self.ede]
            response.use_edns(0, payload=1232, options=options)
        response.set_rcode(rcode)  # after use_edns, which resets the extended rcode
        return response

    def _authoritative(self, query: dns.message.Message, response: dns.message.Message) -> None:
        """Fill `response` from the zone as an authoritative server would."""
        question = query.question[0]
        qname, rdtype = question.name, question.rdtype
        if question.rdclass != dns.rdataclass.IN or not qname.is_subdomain(self.origin):
            response.set_rcode(dns.rcode.REFUSED)
            return
        cut = self._delegation(qname)
        if cut is not None:
            self._referral(cut, response)
            return
        response.flags |= dns.flags.AA
        name = qname
        for _ in range(_MAX_CHAIN):
            node = self.zone.get_node(name)
            if node is None:
                if not self._has_below(name):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(response)
                return
            found = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if found is not None:
                response.answer.append(_rrset(name, found))
                return
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None:
                self._add_soa(response)  # NODATA
                return
            response.answer.append(_rrset(name, cname))
            name = cname[0].target
            if not name.is_subdomain(self.origin) or self._delegation(name) is not None:
                return  # the rest of the chain is someone else's

    def _delegation(self, qname: dns.name.Name) -> dns.name.Name | None:
        """The zone cut (a name with NS records below the origin) at or above qname."""
        labels = len(qname) - len(self.origin)
        for depth in range(1, labels + 1):
            name = qname.split(len(self.origin) + depth)[1]
            node = self.zone.get_node(name)
            if node is not None and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS):
                return name
        return None

    def _referral(self, cut: dns.name.Name, response: dns.message.Message) -> None:
        node = self.zone.get_node(cut)
        assert node is not None
        ns = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS)
        assert ns is not None
        response.authority.append(_rrset(cut, ns))
        for rdata in ns:
            glue = self.zone.get_node(rdata.target)
            if glue is None:
                continue
            address = glue.get_rdataset(dns.rdataclass.IN, dns.rdatatype.A)
            if address is not None:
                response.additional.append(_rrset(rdata.target, address))

    def _has_below(self, name: dns.name.Name) -> bool:
        """Whether name is an empty non-terminal (NODATA, not NXDOMAIN)."""
        return any(other != name and other.is_subdomain(name) for other in self.zone.nodes)

    def _add_soa(self, response: dns.message.Message) -> None:
        soa = self.zone.get_rdataset(self.origin, dns.rdatatype.SOA)
        if soa is not None:
            response.authority.append(_rrset(self.origin, soa))


def _rrset(name: dns.name.Name, rdataset: Any) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))
