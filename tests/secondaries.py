"""Real zone transfers on loopback: a primary (Knot or BIND) and secondaries (NSD, BIND)
that copy its zones by AXFR, with NOTIFY, and expire their copies when it is gone.

    with TransferGroup(["listed.test"], secondaries=("nsd", "bind")) as group:
        group.wait_agreed()                     # every secondary serves the primary's serial
        group.primary.stop()                    # the secondaries' clocks run
        group.secondaries["nsd-secondary"].soa("listed.test")  # SERVFAIL, EDE 24, later

The zones' SOA timers are short (refresh 30 s, retry 10 s, expire 120 s) and the
secondaries honour them as written: BIND's own floors (min-refresh-time 300 s,
min-retry-time 500 s) are lowered to 1 s. The primary sends NOTIFY to every secondary
on load and on each change, so a transfer starts within a second. A zone's NS records
name the primary too (a listed primary), or only the secondaries (`hidden`: a hidden
primary, which no resolver ever asks).

Measured here (NSD 4.6.1 and BIND 9.18.49 as secondaries of Knot 3.2.6 or BIND, 2026-12-06):
- A copy expires exactly SOA expire seconds after its last successful refresh: the
  transfer, or an SOA check that found the same serial (to within 0.3 s, both). The
  checks come every refresh, jittered: 23.7-28 s apart seen for BIND, 26.5-28.7 s for NSD. So after
  the primary stops a copy expires between expire - refresh and expire later (97.7 to
  119.6 s seen with 120/30), or exactly expire after the transfer when the primary stops
  before the first check. Then it answers SERVFAIL for the zone: NSD with EDE 24 and
  the text "Zone has expired", BIND with no EDE. NSD logs "xfrd: zone Z has expired",
  BIND "zone Z/IN: expired".
- A primary that serves a lower serial is not followed, and its answers are no refresh:
  BIND logs "serial number (S) received from primary … < ours (T)" at every retry, NSD
  "ignoring old serial (T/S)" and "bad transfer"; both keep serving their higher serial
  until their copy expires (expire after the last agreement), and at that moment both
  transfer the lower serial at once (within 30 ms: no SERVFAIL was seen polling every
  0.25 s). A regressed primary thus rolls its secondaries back one expire later.
- The primary's NOTIFY starts a transfer within about 0.5 s (Knot) or 1.1 s (BIND);
  Knot sends it from 127.0.0.1 whatever address it listens on.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from servers import (
    LOOPBACK,
    Bind,
    Endpoint,
    Knot,
    Server,
    ServerError,
    ServerGroup,
    Unbound,
    _endpoint,
    find_binary,
    named_options,
    write_checked,
    write_nsd_config,
)

# The zones' SOA timers (seconds): short, so a copy expires within a test.
REFRESH, RETRY, EXPIRE = 30, 10, 120
NEGATIVE_TTL = 60
SERIAL = 2026120101
# Where each kind of server listens: NSD and Knot bind any 127/8 address, BIND only
# one an interface has (127.0.0.1 here), each on a port of its own.
KNOT_ADDRESS = "127.0.0.3"
NSD_ADDRESS = "127.0.0.2"
BIND_ADDRESS = LOOPBACK
APP = "127.40.0.10"  # app.<zone> A, the name the tests ask

SecondaryKind = Literal["nsd", "bind"]
PrimaryKind = Literal["knot", "bind"]


def transfer_zone(
    origin: str,
    serial: int = SERIAL,
    *,
    nameservers: Sequence[tuple[str, str]],
    ttl: int = 300,
    negative_ttl: int = NEGATIVE_TTL,
    refresh: int = REFRESH,
    retry: int = RETRY,
    expire: int = EXPIRE,
    records: Mapping[str, str | Sequence[str] | None] | None = None,
) -> str:
    """A zone file for `origin`: `nameservers` as (label, address) become its NS records
    and their glue; app A APP unless `records` (owner → "TYPE RDATA", None drops it)
    says otherwise."""
    lines = [
        f"$ORIGIN {origin.rstrip('.')}.",
        f"$TTL {ttl}",
        f"@ SOA {nameservers[0][0]} hostmaster {serial} {refresh} {retry} {expire} {negative_ttl}",
    ]
    lines += [f"@ NS {label}" for label, _ in nameservers]
    lines += [f"{label} A {address}" for label, address in nameservers]
    owners: dict[str, str | Sequence[str] | None] = {"app": f"A {APP}", **(records or {})}
    for owner, value in owners.items():
        if value is None:
            continue
        for record in [value] if isinstance(value, str) else value:
            lines.append(f"{owner} {record}")
    return "\n".join(lines) + "\n"


@dataclass
class Soa:
    """One SOA question's outcome: rcode (None: no answer), serial (when answered)
    and the Extended DNS Errors attached, as (code, text)."""

    rcode: int | None
    serial: int | None = None
    ede: list[tuple[int, str | None]] = field(default_factory=list)

    @property
    def servfail(self) -> bool:
        return self.rcode == dns.rcode.SERVFAIL


def ask_soa(target: Endpoint, origin: str, timeout: float = 1.0) -> Soa:
    """An SOA question, recursion off, with EDNS (so EDE can come back)."""
    address, port = _endpoint(target)
    query = dns.message.make_query(origin, "SOA", use_edns=0, payload=1232)
    query.flags &= ~dns.flags.RD
    try:
        response = dns.query.udp(query, address, port=port, timeout=timeout)
    except (dns.exception.DNSException, OSError):
        return Soa(None)
    ede = [
        (int(option.code), option.text)
        for option in response.options
        if isinstance(option, dns.edns.EDEOption)
    ]
    serial = None
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            serial = int(rrset[0].serial)
    return Soa(response.rcode(), serial, ede)


class _Notifying:
    """A primary's own address and the secondaries it NOTIFYs (settable until start)."""

    ADDRESS = LOOPBACK

    def __init__(
        self,
        zones: Mapping[str, str],
        port: int | None = None,
        *,
        address: str = "",
        notify: Sequence[Endpoint] = (),
    ) -> None:
        super().__init__(zones, port, address=address or self.ADDRESS)  # type: ignore[call-arg]
        self.notify = list(notify)


class KnotPrimary(_Notifying, Knot):
    """Knot as the primary: sends NOTIFY to every endpoint in `notify` (settable until
    start) when a zone loads or changes, and allows transfers to 127.0.0.0/8.

    set_zone() reloads in place (knotc zone-reload); a lower serial is taken as written
    (with journal-content none Knot keeps no history to object from)."""

    ADDRESS = KNOT_ADDRESS

    @property
    def kind(self) -> str:
        return "knot-primary"

    def _write_config(self) -> None:
        super()._write_config()
        text = self.config_path.read_text()
        remotes = "".join(
            f"  - id: secondary{i}\n    address: {a}@{p}\n"
            for i, (a, p) in enumerate(map(_endpoint, self.notify))
        )
        ids = ", ".join(f"secondary{i}" for i in range(len(self.notify)))
        head, _, zones = text.partition("template:\n")
        template, _, zone_list = zones.partition("zone:\n")
        text = head
        if remotes:
            text += "remote:\n" + remotes
        text += "acl:\n  - id: transfer\n    address: 127.0.0.0/8\n    action: transfer\n"
        text += "template:\n" + template.rstrip("\n") + "\n    acl: transfer\n"
        if ids:
            text += f"    notify: [{ids}]\n"
        text += "zone:\n" + zone_list
        self.config_path.write_text(text)
        done = subprocess.run(
            [find_binary("knotc"), "-c", str(self.config_path), "conf-check"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise ServerError(f"knotc rejected {self.config_path}:\n{done.stderr}\n{text}")


class BindPrimary(_Notifying, Bind):
    """BIND as the primary: `notify explicit` to every endpoint in `notify`, transfers
    allowed to 127.0.0.0/8; set_zone() restarts it (any serial is loaded as written)."""

    ADDRESS = BIND_ADDRESS

    @property
    def kind(self) -> str:
        return "bind-primary"

    def _write_config(self) -> None:
        self._write_zones()
        also = " ".join(f"{a} port {p};" for a, p in map(_endpoint, self.notify))
        notify = f"notify explicit; also-notify {{ {also} }};" if also else "notify no;"
        zones = "".join(
            f'zone "{origin}" {{ type primary; file "{self._zone_file(origin)}"; }};\n'
            for origin in self.zones
        )
        extra = "    allow-transfer { 127.0.0.0/8; };\n"
        write_checked(
            self.config_path, named_options(self, extra, notify) + zones, "named-checkconf"
        )


class Secondary(Server):
    """A secondary for {origin: primary endpoint}; ready once every zone is transferred
    (answers its SOA). Stopped by PID like every server here; its copies live in its own
    temp dir and are forgotten on close."""

    ADDRESS = LOOPBACK  # each kind's own address, so two can share a port number

    def __init__(
        self, primaries: Mapping[str, Endpoint], port: int | None = None, *, address: str = ""
    ) -> None:
        super().__init__(port, address=address or self.ADDRESS)
        self.primaries = {origin.rstrip("."): _endpoint(p) for origin, p in primaries.items()}

    def _is_ready(self) -> bool:
        return all(self._soa_rcode(origin) == dns.rcode.NOERROR for origin in self.primaries)

    def soa(self, origin: str, timeout: float = 1.0) -> Soa:
        return ask_soa(self, origin, timeout)

    def serial(self, origin: str) -> int | None:
        """The serial this secondary answers with now; None unless it answers NOERROR."""
        return self.soa(origin).serial


class NsdSecondary(Secondary):
    """NSD as a secondary: request-xfr from the primary, NOTIFY allowed from 127.0.0.0/8,
    no floors on the SOA timers, copies kept in memory only (zonefiles-write 0)."""

    ADDRESS = NSD_ADDRESS

    @property
    def kind(self) -> str:
        return "nsd-secondary"

    @property
    def config_path(self) -> Path:
        return self.dir / "nsd.conf"

    def _write_config(self) -> None:
        zones = ""
        for origin, (address, port) in self.primaries.items():
            zones += (
                f'zone:\n    name: "{origin}"\n    zonefile: "{self.dir}/{origin}.zone"\n'
                f"    request-xfr: AXFR {address}@{port} NOKEY\n"
                "    allow-notify: 127.0.0.0/8 NOKEY\n"
                "    min-refresh-time: 0\n    min-retry-time: 0\n    min-expire-time: 0\n"
            )
        write_nsd_config(self, self.config_path, zones, verbosity=2)

    def _command(self) -> list[str]:
        return [find_binary("nsd"), "-d", "-c", str(self.config_path)]


class BindSecondary(Secondary):
    """BIND as a secondary (type secondary), its floors on refresh and retry lowered to
    1 s so the SOA timers count as written, NOTIFY allowed from 127.0.0.0/8."""

    ADDRESS = BIND_ADDRESS

    @property
    def kind(self) -> str:
        return "bind-secondary"

    @property
    def config_path(self) -> Path:
        return self.dir / "named.conf"

    def _write_config(self) -> None:
        zones = ""
        for origin, (address, port) in self.primaries.items():
            zones += (
                f'zone "{origin}" {{ type secondary; primaries {{ {address} port {port}; }};'
                f' file "{self.dir}/{origin}.copy"; allow-notify {{ 127.0.0.0/8; }}; }};\n'
            )
        extra = "    min-refresh-time 1;\n    min-retry-time 1;\n    masterfile-format text;\n"
        write_checked(self.config_path, named_options(self, extra) + zones, "named-checkconf")

    def _command(self) -> list[str]:
        return [find_binary("named"), "-g", "-4", "-c", str(self.config_path)]


Primary = KnotPrimary | BindPrimary


class TransferGroup(ServerGroup):
    """A primary, its secondaries and (unless resolver=False) an Unbound resolver,
    for the zones `origins`, every one copied to every secondary.

    Zones in `hidden` have a hidden primary: their NS records (and the resolver's
    stubs) name only the secondaries. The others list the primary as well.

        group = TransferGroup(["listed.test", "hidden.test"], hidden=["hidden.test"])
        group.start(); group.wait_agreed()
        group.set_serial(SERIAL - 5)          # the primary serves an older serial
        group.primary.stop(); group.primary.start()
    """

    __test__ = False

    def __init__(
        self,
        origins: Sequence[str],
        *,
        primary: PrimaryKind = "knot",
        secondaries: Sequence[SecondaryKind] = ("nsd", "bind"),
        hidden: Iterable[str] = (),
        serial: int = SERIAL,
        ttl: int = 300,
        negative_ttl: int = NEGATIVE_TTL,
        resolver: bool = True,
        resolver_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.origins = [o.rstrip(".") for o in origins]
        self.hidden = {o.rstrip(".") for o in hidden}
        self.ttl, self.negative_ttl = ttl, negative_ttl
        self.records: dict[str, dict[str, str | Sequence[str] | None]] = {
            o: {} for o in self.origins
        }
        self.primary: Primary = KnotPrimary({}) if primary == "knot" else BindPrimary({})
        self.secondaries: dict[str, Secondary] = {}
        for kind in secondaries:
            sources = {origin: self.primary for origin in self.origins}
            made: Secondary = NsdSecondary(sources) if kind == "nsd" else BindSecondary(sources)
            self.secondaries[f"{kind}-secondary"] = made
        self.primary.notify = list(self.secondaries.values())
        for origin in self.origins:
            self.primary.zones[origin] = self.zone_text(origin, serial)
        self.resolver: Unbound | None = None
        if resolver:
            stubs: dict[str, list[Endpoint]] = {
                origin: [
                    *([] if origin in self.hidden else [self.primary]),
                    *self.secondaries.values(),
                ]
                for origin in self.origins
            }
            self.resolver = Unbound(stubs, **dict(resolver_options or {}))

    @property
    def servers(self) -> dict[str, Server]:
        """By the names the probes entries give them; the primary first (secondaries
        need it to be serving before they can start)."""
        found: dict[str, Server] = {"primary": self.primary, **self.secondaries}
        if self.resolver is not None:
            found["resolver"] = self.resolver
        return found

    def nameservers(self, origin: str) -> list[tuple[str, str]]:
        listed = [] if origin in self.hidden else [("primary", self.primary.address)]
        return listed + [(name, s.address) for name, s in self.secondaries.items()]

    def zone_text(self, origin: str, serial: int) -> str:
        return transfer_zone(
            origin,
            serial,
            nameservers=self.nameservers(origin),
            ttl=self.ttl,
            negative_ttl=self.negative_ttl,
            records=self.records[origin],
        )

    def set_serial(
        self,
        serial: int,
        origins: Iterable[str] | None = None,
        records: Mapping[str, str | Sequence[str] | None] | None = None,
    ) -> None:
        """The primary serves `serial` (higher or lower) for these zones (default all),
        with `records` merged into what they hold; returns once it answers with it (at
        once if it is stopped: it loads them when started)."""
        for origin in self.origins if origins is None else [o.rstrip(".") for o in origins]:
            self.records[origin].update(records or {})
            self.primary.set_zone(origin, self.zone_text(origin, serial))

    def agreed(self, origins: Iterable[str] | None = None) -> bool:
        """Every secondary answers the primary's serial for these zones (default all)."""
        for origin in self.origins if origins is None else origins:
            wanted = ask_soa(self.primary, origin).serial
            if wanted is None:
                return False
            if any(s.serial(origin) != wanted for s in self.secondaries.values()):
                return False
        return True

    def wait_agreed(self, origins: Iterable[str] | None = None, deadline: float = 30.0) -> None:
        chosen = list(self.origins if origins is None else origins)
        end = time.monotonic() + deadline
        while not self.agreed(chosen):
            if time.monotonic() > end:
                seen = {
                    o: {n: s.soa(o) for n, s in self.servers.items() if n != "resolver"}
                    for o in chosen
                }
                raise ServerError(f"secondaries did not catch up within {deadline:.0f}s: {seen}")
            time.sleep(0.1)

    def probes_servers(self, software: bool = False) -> list[dict[str, Any]]:
        """The `servers:` entries of a probes.yaml: the primary with `primary: true`,
        the secondaries, and the resolver; `software` adds each one's `software:` key."""
        entries: list[dict[str, Any]] = []
        for name, server in self.servers.items():
            entry: dict[str, Any] = {"name": name, "address": server.address,
                                     "port": server.port}  # fmt: skip
            if server is self.resolver:
                entry["role"] = "recursive"
            else:
                entry["role"] = "authoritative"
                entry["zones"] = list(self.origins)
                if server is self.primary:
                    entry["primary"] = True
            if software:
                entry["software"] = software_of(server)
            entries.append(entry)
        return entries


def software_of(server: Server) -> str:
    """A server's `software:` key in a probes.yaml."""
    if isinstance(server, Unbound):
        return "unbound"
    if isinstance(server, (Bind, BindSecondary)) or "bind" in type(server).__name__.lower():
        return "bind"
    return "other"  # Knot, NSD


@dataclass
class Expiry:
    """When one secondary first answered SERVFAIL for one zone, and the EDE it sent."""

    at: float  # time.time()
    ede: list[tuple[int, str | None]]


class ExpiryWatch:
    """Asks every secondary for every zone's SOA every `every` seconds in a thread and
    keeps, per (secondary, zone), the first SERVFAIL (`expired`) and the last time it
    still answered NOERROR (`last_ok`): the truth a countdown is held to.

        with ExpiryWatch(group) as watch:
            group.primary.stop()
            watch.wait(deadline=EXPIRE + 20)
    """

    def __init__(self, group: TransferGroup, every: float = 0.25) -> None:
        self.group, self.every = group, every
        self.expired: dict[tuple[str, str], Expiry] = {}
        self.last_ok: dict[tuple[str, str], float] = {}
        self.serials: dict[tuple[str, str], int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="expiry-watch")

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, secondary in self.group.secondaries.items():
                for origin in self.group.origins:
                    asked = time.time()
                    soa = secondary.soa(origin, timeout=0.5)
                    key = (name, origin)
                    if soa.servfail and key not in self.expired:
                        self.expired[key] = Expiry(asked, soa.ede)
                    elif soa.rcode == dns.rcode.NOERROR:
                        self.last_ok[key] = asked
                        if soa.serial is not None:
                            self.serials[key] = soa.serial
            self._stop.wait(self.every)

    def first(self, origin: str) -> Expiry | None:
        """The zone's first expired copy on any secondary (what makes it fail first)."""
        found = [e for (_, o), e in self.expired.items() if o == origin]
        return min(found, key=lambda e: e.at) if found else None

    def all_expired(self) -> bool:
        return all(
            (name, origin) in self.expired
            for name in self.group.secondaries
            for origin in self.group.origins
        )

    def wait(self, deadline: float) -> None:
        end = time.monotonic() + deadline
        while not self.all_expired():
            if time.monotonic() > end:
                raise ServerError(f"not every copy expired within {deadline:.0f}s: {self.expired}")
            time.sleep(0.1)

    def __enter__(self) -> ExpiryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
