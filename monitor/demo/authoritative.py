"""Embedded DNS servers for `dnsmon demo`: the product runs offline, no DNS software needed.

`AuthoritativeServer` serves the example region's zones (`monitor/demo/data/*.zone`);
`CachingResolver` (in `resolver`) forwards to it and caches like a real resolver.
Both listen on UDP and TCP on one loopback port, on background threads, and can be told
to fail (`fail("timeout")`) and `recover()` so the demo can replay a broken upgrade.

These are demo and test fixtures, not production servers: no wildcards, no delegations
below a zone apex, no zone transfers, no DNSSEC.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Self, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rrset
import dns.zone

log = logging.getLogger(__name__)

FAIL_MODES = ("timeout", "servfail", "refused")
NO_EDNS_UDP_LIMIT = 512  # RFC 1035: the most a UDP answer may carry without EDNS
TCP_LIMIT = 65535
OUR_EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 value: avoids IP fragmentation
TCP_IDLE_SECONDS = 2.0  # an idle TCP client must not keep a handler thread forever
POLL_SECONDS = 0.1  # how often the serve loops look for stop(): stop() returns this fast
MAX_CNAME_CHAIN = 8
ZONE_TRANSFER_TYPES = (dns.rdatatype.AXFR, dns.rdatatype.IXFR)


def load_demo_zones() -> list[dns.zone.Zone]:
    """Load every `monitor/demo/data/*.zone`; a file's name (minus `.zone`) is its origin."""
    folder = resources.files("monitor.demo").joinpath("data")
    zones = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".zone"):
            origin = entry.name.removesuffix(".zone")
            text = entry.read_text(encoding="utf-8")
            zones.append(dns.zone.from_text(text, origin, relativize=False))
    return zones


def accept_query(query: dns.message.Message, response: dns.message.Message) -> bool:
    """Whether `query` is one plain question we serve; if not, set the response's rcode."""
    if query.edns > 0:
        response.set_rcode(dns.rcode.BADVERS)  # RFC 6891: we speak EDNS version 0 only
    elif query.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
    elif len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
    elif query.question[0].rdclass != dns.rdataclass.IN:
        response.set_rcode(dns.rcode.REFUSED)
    else:
        return True
    return False


def rrset_with_ttl(
    name: dns.name.Name, rdataset: Iterable[dns.rdata.Rdata], ttl: int
) -> dns.rrset.RRset:
    """A fresh RRset (safe to hand out) holding `rdataset`'s records with the given TTL."""
    return dns.rrset.from_rdata_list(name, ttl, list(rdataset))


class DnsServer:
    """UDP and TCP listeners on one port, on background threads, with failure modes.

    Subclasses implement `respond()`; this class does the wire format, truncation,
    failure modes and the socket plumbing, and never lets an exception out of a handler.
    """

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        self.address = address
        self.port = port  # after start() with port 0, the port really bound
        self._requested_port = port
        self._mode: str | None = None
        self._listeners: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []
        # Told of each reply sent and to whom, as a resolver's dnstap is (None: no one).
        self.tap: Callable[[tuple[str, int], bytes], None] | None = None

    def respond(self, query: dns.message.Message) -> dns.message.Message:
        """The answer to a well-formed query (subclasses decide what it says)."""
        raise NotImplementedError

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Bind UDP and TCP on (address, port) and serve on daemon threads."""
        if self._listeners:
            return
        udp, tcp = self._bind_pair()
        self.port = udp.server_address[1]
        self._listeners = [udp, tcp]
        for listener in self._listeners:
            thread = threading.Thread(
                target=listener.serve_forever,
                kwargs={"poll_interval": POLL_SECONDS},
                name=f"{type(self).__name__}-{self.port}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop serving and close both sockets, so the port is free again at once."""
        for listener in self._listeners:
            listener.shutdown()
            listener.server_close()
        for thread in self._threads:
            thread.join(timeout=1.0)
        self._listeners, self._threads = [], []

    @property
    def running(self) -> bool:
        """Whether the listeners are up (even if told to fail)."""
        return bool(self._listeners)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _bind_pair(self) -> tuple[_UdpListener, _TcpListener]:
        # With port 0 the kernel picks a UDP port; TCP must then get the same number,
        # which another process may hold, so try a few times before giving up.
        for _ in range(20):
            udp = _UdpListener((self.address, self._requested_port), self)
            try:
                return udp, _TcpListener((self.address, udp.server_address[1]), self)
            except OSError:
                udp.server_close()
                if self._requested_port:
                    raise
        raise OSError(f"no port free for both UDP and TCP on {self.address}")

    # --- failure modes -------------------------------------------------------------

    def fail(self, mode: str) -> None:
        """Misbehave until `recover()`: "timeout" (drop queries), "servfail" or "refused"."""
        if mode not in FAIL_MODES:
            raise ValueError(f"unknown failure mode {mode!r}; use one of {FAIL_MODES}")
        self._mode = mode

    def recover(self) -> None:
        """Answer normally again."""
        self._mode = None

    @property
    def failure(self) -> str | None:
        """The failure mode in force, or None when answering normally."""
        return self._mode

    # --- wire handling -------------------------------------------------------------

    def handle_wire(
        self, wire: bytes, over_tcp: bool, client: tuple[str, int] | None = None
    ) -> bytes | None:
        """One query in wire format → the reply in wire format, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # garbage of any kind: dnspython raises many exception types
            return formerr_for(wire)
        if query.flags & dns.flags.QR:
            return None  # a response sent to us: answering it could start a loop
        try:
            response = self._respond_or_fail(query)
        except Exception:  # a bug must cost one answer, never the server
            log.exception("demo DNS server failed to answer %s", query.question)
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
        if response is None:
            return None
        reply = to_wire_within(response, size_limit(query, over_tcp))
        if reply is not None and client is not None and self.tap is not None:
            self.tap(client, reply)
        return reply

    def _respond_or_fail(self, query: dns.message.Message) -> dns.message.Message | None:
        mode = self._mode
        if mode == "timeout":
            return None
        if mode is None:
            return self.respond(query)
        response = dns.message.make_response(query, our_payload=OUR_EDNS_PAYLOAD)
        response.set_rcode(dns.rcode.SERVFAIL if mode == "servfail" else dns.rcode.REFUSED)
        return response


def size_limit(query: dns.message.Message, over_tcp: bool) -> int:
    """How big an answer the client accepts: TCP's maximum, its EDNS payload, or 512."""
    if over_tcp:
        return TCP_LIMIT
    if query.edns >= 0:
        return max(NO_EDNS_UDP_LIMIT, query.payload)
    return NO_EDNS_UDP_LIMIT


def to_wire_within(response: dns.message.Message, limit: int) -> bytes | None:
    """Render `response`; if it does not fit, an empty answer with TC set (retry over TCP)."""
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        pass
    # Clients discard a truncated answer's records anyway; sending none is simplest.
    for section in (response.answer, response.authority, response.additional):
        section.clear()
    response.flags |= dns.flags.TC
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        return None


def formerr_for(wire: bytes) -> bytes | None:
    """A bare FORMERR for an unparseable query, or None when there is no header to echo."""
    if len(wire) < 12:
        return None
    query_id, flags = struct.unpack("!HH", wire[:4])
    if flags & dns.flags.QR:
        return None
    keep = flags & (dns.flags.RD | 0x7800)  # echo RD and the opcode bits
    reply_flags = dns.flags.QR | keep | dns.rcode.FORMERR
    return struct.pack("!HHHHHH", query_id, reply_flags, 0, 0, 0, 0)


class _UdpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        wire, sock = cast(tuple[bytes, socket.socket], self.request)
        owner = cast(_Listener, self.server).owner
        reply = owner.handle_wire(wire, over_tcp=False, client=self.client_address)
        if reply is not None:
            try:
                sock.sendto(reply, self.client_address)
            except OSError:
                pass  # the client went away; nothing to tell it


class _TcpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = cast(socket.socket, self.request)
        owner = cast(_Listener, self.server).owner
        sock.settimeout(TCP_IDLE_SECONDS)
        try:
            # RFC 7766: a client may send several queries on one connection.
            while (wire := read_tcp_message(sock)) is not None:
                reply = owner.handle_wire(wire, over_tcp=True, client=self.client_address)
                if reply is not None:
                    sock.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            pass  # reset, timed out or closed by stop(): the connection is over


def read_tcp_message(sock: socket.socket) -> bytes | None:
    """One length-prefixed DNS message from a TCP stream, or None at end of stream."""
    prefix = _read_exact(sock, 2)
    if prefix is None:
        return None
    return _read_exact(sock, struct.unpack("!H", prefix)[0])


def _read_exact(sock: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class _Listener(socketserver.ThreadingMixIn):
    """What both listeners share: the owning server, daemon handler threads."""

    owner: DnsServer
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a slow client


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


class _UdpListener(_Listener, socketserver.UDPServer):
    # No SO_REUSEADDR on UDP: on Linux it would let two servers share one port silently.
    def __init__(self, server_address: tuple[str, int], owner: DnsServer) -> None:
        self.owner = owner
        self.address_family = _family(server_address[0])
        super().__init__(server_address, _UdpHandler)


class _TcpListener(_Listener, socketserver.TCPServer):
    allow_reuse_address = True  # a restarted demo may rebind while old connections linger

    def __init__(self, server_address: tuple[str, int], owner: DnsServer) -> None:
        self.owner = owner
        self.address_family = _family(server_address[0])
        super().__init__(server_address, _TcpHandler)


class AuthoritativeServer(DnsServer):
    """An authoritative server for some zones: AA set, NXDOMAIN/NODATA with the SOA,
    CNAME chains followed within its zones, REFUSED for anything outside them."""

    def __init__(
        self, zones: Iterable[dns.zone.Zone], address: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(address, port)
        self.zones = list(zones)
        self._lock = threading.Lock()  # the demo edits zones while handlers read them

    def respond(self, query: dns.message.Message) -> dns.message.Message:
        """Answer from the zones, as an authoritative server would."""
        response = dns.message.make_response(query, our_payload=OUR_EDNS_PAYLOAD)
        if not accept_query(query, response):
            return response
        question = query.question[0]
        with self._lock:
            zone = self.zone_for(question.name)
            if zone is None or question.rdtype in ZONE_TRANSFER_TYPES:
                response.set_rcode(dns.rcode.REFUSED)  # not ours, or a transfer we never allow
                return response
            response.flags |= dns.flags.AA
            self._answer(response, zone, question.name, question.rdtype)
        return response

    def zone_for(self, name: dns.name.Name) -> dns.zone.Zone | None:
        """The most specific of our zones that contains `name`."""
        containing = [z for z in self.zones if z.origin and name.is_subdomain(z.origin)]
        return max(containing, key=lambda z: len(z.origin or ()), default=None)

    def _answer(
        self,
        response: dns.message.Message,
        zone: dns.zone.Zone,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
    ) -> None:
        for _ in range(MAX_CNAME_CHAIN):
            node = zone.get_node(name)
            if node is None:
                if not _is_empty_non_terminal(zone, name):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                response.authority.append(_negative_soa(zone))
                return
            found = node.get_rdataset(dns.rdataclass.IN, rdtype)
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if found is not None or cname is None:
                _answer_from_node(response, zone, name, found)
                return
            response.answer.append(rrset_with_ttl(name, cname, cname.ttl))
            name = cname[0].target
            next_zone = self.zone_for(name)
            if next_zone is None:
                return  # the target is elsewhere: the client's resolver follows it
            zone = next_zone

    # --- changes for the demo's replay ---------------------------------------------

    def set_serial(self, zone_name: str, serial: int) -> None:
        """Give a zone a new SOA serial (as a primary does after an edit)."""
        with self._lock:
            zone = self._zone_named(zone_name)
            soa = zone.find_rdataset(zone.origin or "@", dns.rdatatype.SOA)
            old = cast(dns.rdtypes.ANY.SOA.SOA, soa[0])
            soa.clear()
            soa.add(old.replace(serial=serial))

    def set_record(self, name: str, rdtype: str, values: list[str], ttl: int = 60) -> None:
        """Replace one name's records of one type; an empty `values` deletes them."""
        with self._lock:
            owner = dns.name.from_text(name)
            zone = self.zone_for(owner)
            if zone is None:
                raise ValueError(f"{name} is in none of this server's zones")
            if not values:
                zone.delete_rdataset(owner, rdtype)
                return
            rdataset = dns.rdataset.from_text_list(
                "IN", rdtype, ttl, values, origin=zone.origin, relativize=False
            )
            zone.replace_rdataset(owner, rdataset)

    def _zone_named(self, zone_name: str) -> dns.zone.Zone:
        origin = dns.name.from_text(zone_name)
        for zone in self.zones:
            if zone.origin == origin:
                return zone
        raise ValueError(f"this server does not serve {zone_name}")


def _answer_from_node(
    response: dns.message.Message,
    zone: dns.zone.Zone,
    name: dns.name.Name,
    found: dns.rdataset.Rdataset | None,
) -> None:
    if found is None:  # the name exists, the type does not: NODATA
        response.authority.append(_negative_soa(zone))
    else:
        response.answer.append(rrset_with_ttl(name, found, found.ttl))


def _is_empty_non_terminal(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    # `_tcp.region.internal` holds no records but has names below it: NODATA, not NXDOMAIN.
    return any(existing.is_subdomain(name) for existing in zone.nodes)


def _negative_soa(zone: dns.zone.Zone) -> dns.rrset.RRset:
    # RFC 2308: a negative answer lives min(SOA TTL, SOA minimum) seconds in caches.
    origin = cast(dns.name.Name, zone.origin)
    soa = zone.find_rdataset(origin, dns.rdatatype.SOA)
    minimum = cast(dns.rdtypes.ANY.SOA.SOA, soa[0]).minimum
    return rrset_with_ttl(origin, soa, min(soa.ttl, minimum))
