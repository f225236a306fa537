"""Real DNS servers on loopback for integration tests.

Each server runs in the foreground as a child process on 127.0.0.1 and a high port,
with its config, zones and log in its own temporary directory. It counts as started
once it answers an SOA query, and is stopped by PID. Nothing here talks to anything
outside 127.0.0.0/8: the resolvers are stubbed to local servers and their root hints
point at a loopback address nobody listens on.

    with TestRegion(ttl=5) as region:            # ns1 Knot, ns2 BIND, two Unbounds
        region.resolver_a.query("ehr-db.region.internal", "A")
        region.ns1.stop()                         # resolvers answer from cache a while
        region.set_zone("ns2", serial=2026112602, overrides={"ehr-db": "A 127.20.1.99"})
        Path("probes.yaml").write_text(region.probes_yaml())

Also here: Nsd (authoritative, any 127/8 address), BindResolver (forwarding or
following delegations on a high port; serving stale), DelegatedRegion (a parent, a
child zone on NSD at 127.0.0.2 and a BIND resolver between them), pause()/resume()
for a silent server, and the Responder base of the in-process fakes (HostileResponder
here, responders.ZoneResponder).

For glibc's stub resolver, which only ever asks port 53 (tests/clientlookup.py):
claim_address() adds an address of its own to lo, and a resolver built with
client_facing=True listens on port 53 there (Unbound, BindResolver), giving the address
back when closed. Unbound can also run with TCP off, refuse clients (access_control) or
answer NXDOMAIN for chosen names; BindResolver can serve a broken view to chosen client
addresses (split horizon) and be authoritative for zones of its own (an AD-style DNS).

Resolvers' traffic logs (tests/traffic.py, tests/data/learn/): Unbound logs queries and
replies to a file and sends dnstap to a socket; BindResolver writes a query log and
dnstap to a file or socket; PdnsRecursor (PowerDNS Recursor) logs each question on
stdout; KnotResolver (kresd) sends dnstap to a socket. Test clients ask from any
127.0.0.0/8 address with ask(..., source=...): on Linux none needs adding to lo.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, Self, TypeVar

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import yaml
from zones import (
    DEFAULT_SERIAL,
    REGION,
    REVERSE,
    SUB,
    SUB_SERVER,
    Records,
    broken_zone,
    delegation_records,
    region_reverse_zone,
    region_zone,
    region_zones,
    sub_zone,
)

LOOPBACK = "127.0.0.1"
# Root hints name this address, where nothing listens, so a resolver never reaches a
# real root server. Not 127.0.0.53: systemd-resolved listens there on many machines and
# would forward what it is asked to the real DNS.
FAKE_ROOT = "127.255.0.53"
ROOT_HINTS = f". 3600000 NS fake-root.\nfake-root. 3600000 A {FAKE_ROOT}\n"
# The TTL Unbound and BIND put on a stale answer.
STALE_REPLY_TTL = 30
START_DEADLINE = 15.0
STOP_GRACE = 3.0
# Server binaries live in sbin, which a non-root PATH often lacks.
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")
PACKAGES = {
    "knotd": "knot",
    "knotc": "knot",
    "named": "bind9",
    "named-checkconf": "bind9-utils",
    "nsd": "nsd",
    "nsd-checkconf": "nsd",
    "unbound": "unbound",
    "unbound-checkconf": "unbound",
    "unbound-control": "unbound",
    "pdns_recursor": "pdns-recursor",
    "kresd": "knot-resolver",
    "fstrm_capture": "fstrm-bin",
    "dnstap-read": "bind9-dnsutils",
    "dnssec-keygen": "bind9-utils",
    "dnssec-signzone": "bind9-utils",
}
# Programs PACKAGES names that missing_binaries() checks by default (what every test run
# needs); the traffic-log tests check theirs (TRAFFIC_PROGRAMS) themselves.
CORE_PROGRAMS = (
    "knotd", "knotc", "named", "named-checkconf", "nsd", "nsd-checkconf",
    "unbound", "unbound-checkconf", "unbound-control",
)  # fmt: skip
TRAFFIC_PROGRAMS = ("pdns_recursor", "fstrm_capture", "dnstap-read")


class ServerError(RuntimeError):
    """A server failed to start, reload or answer."""


class MissingBinary(ServerError):
    """A server program is not installed."""


class Listening(Protocol):
    address: str
    port: int


Endpoint = tuple[str, int] | Listening


def find_binary(name: str) -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    found = shutil.which(name, path=path)
    if found is None:
        package = PACKAGES.get(name, name)
        raise MissingBinary(
            f"{name} is not installed (Debian package {package}); scripts/test installs it"
        )
    return found


def missing_binaries(names: Iterable[str] = CORE_PROGRAMS) -> list[str]:
    missing = []
    for name in names:
        try:
            find_binary(name)
        except MissingBinary:
            missing.append(name)
    return missing


def spawn(
    command: list[str],
    log_path: Path,
    cwd: Path | None = None,
    header: str = "",
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``command`` in its own session (stopped by PID, its children with it), stdin
    closed, stdout and stderr appended to ``log_path`` after ``header``."""
    with open(log_path, "ab") as log:
        if header:
            log.write(header.encode())
            log.flush()
        return subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env,
        )  # fmt: skip


def stop_process(
    proc: subprocess.Popen[Any] | None, signum: int = signal.SIGTERM, grace: float = STOP_GRACE
) -> int | None:
    """Signal a child by PID, SIGKILL it after ``grace``; its exit code (None if killed)."""
    if proc is None:
        return None
    if proc.poll() is not None:
        return proc.returncode
    os.kill(proc.pid, signum)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for ports bound to 0 (outgoing sockets, ours and servers')."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


EPHEMERAL = _ephemeral_range()
# Servers listen below the ephemeral range: a port picked there cannot be taken, between
# picking and the server's bind, by a resolver's or prober's outgoing socket. (Where the
# kernel's range leaves too little room below it, ports come from the kernel instead.)
_LISTEN_RANGE = (max(1024, EPHEMERAL[0] - 12000), EPHEMERAL[0] - 1)
_LISTEN_RANGE_USABLE = _LISTEN_RANGE[1] - _LISTEN_RANGE[0] >= 1000
_PICKS = 1000  # tries in the range before asking the kernel
_handed_out: set[int] = set()


def free_port(*addresses: str) -> int:
    """A port free for both UDP and TCP right now on 127.0.0.1 and every other address
    given (e.g. free_port(LOOPBACK, "127.0.0.2") for two servers sharing a port).

    Never one handed out before in this process, and where the machine allows, none the
    kernel gives to sockets bound to port 0."""
    candidates = [LOOPBACK, *(a for a in addresses if a != LOOPBACK)]
    for _ in range(_PICKS if _LISTEN_RANGE_USABLE else 0):
        port = random.randint(*_LISTEN_RANGE)
        if port not in _handed_out and all(_port_free(a, port) for a in candidates):
            _handed_out.add(port)
            return port
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((LOOPBACK, 0))
            port = udp.getsockname()[1]
        if port not in _handed_out and all(_port_free(a, port) for a in candidates):
            _handed_out.add(port)
            return port


def _port_free(address: str, port: int) -> bool:
    """Whether both UDP and TCP can bind here."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(family, kind) as sock:
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def _endpoint(target: Endpoint) -> tuple[str, int]:
    if isinstance(target, tuple):
        return target
    return target.address, target.port


def ask(
    target: Endpoint,
    qname: str,
    rdtype: str = "A",
    *,
    tcp: bool = False,
    timeout: float = 2.0,
    payload: int | None = 1232,
    recursion: bool = True,
    source: str | None = None,
) -> dns.message.Message:
    """One query, no retries: a truncated UDP answer is returned as it is.

    `payload` is the EDNS buffer size; None sends no EDNS (512-byte UDP limit).
    `source` binds the query's socket to that address (a BIND view picks by it).
    """
    address, port = _endpoint(target)
    if payload is None:
        query = dns.message.make_query(qname, rdtype)
    else:
        query = dns.message.make_query(qname, rdtype, use_edns=0, payload=payload)
    if not recursion:
        query.flags &= ~dns.flags.RD
    if tcp:
        return dns.query.tcp(query, address, timeout=timeout, port=port, source=source)
    return dns.query.udp(query, address, timeout=timeout, port=port, source=source)


def write_checked(path: Path, text: str, checker: str) -> None:
    """Write a server's config and have the server's own checker pass it, or say why not."""
    path.write_text(text)
    check = subprocess.run([find_binary(checker), str(path)], capture_output=True, text=True)
    if check.returncode != 0:
        raise ServerError(f"{checker} rejected {path}:\n{check.stdout}{check.stderr}\n{text}")


def zone_serial(origin: str, text: str) -> int:
    zone = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)
    return int(zone.get_soa().serial)


# Addresses of our own on lo, for servers glibc's stub must reach: it asks port 53
# only, so each such server listens on port 53 of its own address. Adding the address
# (`ip addr add`) is the claim: it fails if another test process already holds it.
CLIENT_PORT = 53
CLIENT_NET = "127.80"  # servers with client_facing=True
# The label names the claiming process, so addresses a killed test run left behind are
# recognised (its PID is gone) and removed by the next claim.
_LABEL_PREFIX = "lo:dm"
_claimed: set[str] = set()


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_binary("ip"), *args], capture_output=True, text=True)


def claimed_addresses(mine_only: bool = True) -> dict[str, int]:
    """The addresses claim_address added to lo, with the PID of the claiming process."""
    found: dict[str, int] = {}
    for line in _ip("-o", "-4", "addr", "show", "dev", "lo").stdout.splitlines():
        words = line.replace("\\", " ").split()
        if "inet" not in words:
            continue
        address = words[words.index("inet") + 1].split("/")[0]
        for word in words:
            if word.startswith(_LABEL_PREFIX) and word[len(_LABEL_PREFIX) :].isdigit():
                pid = int(word[len(_LABEL_PREFIX) :])
                if not mine_only or pid == os.getpid():
                    found[address] = pid
    return found


def _reap_stale_addresses() -> None:
    for address, pid in claimed_addresses(mine_only=False).items():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _ip("addr", "del", f"{address}/32", "dev", "lo")
        except PermissionError:
            pass  # alive, someone else's


def claim_address(net: str = CLIENT_NET) -> str:
    """A random address in `net` (two octets, e.g. "127.80") added to lo as a /32 with
    port 53 free on it, held by this process until release_address (or exit).

    On lo, the kernel picks the address itself as the source of packets sent to it, and
    BIND (which listens only on interface addresses) can listen there. Needs root."""
    _reap_stale_addresses()
    label = f"{_LABEL_PREFIX}{os.getpid()}"
    for _ in range(200):
        address = f"{net}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        added = _ip("addr", "add", f"{address}/32", "dev", "lo", "scope", "host", "label", label)
        if added.returncode != 0:
            if "File exists" in added.stderr:
                continue  # another process's
            raise ServerError(f"ip addr add {address}/32 dev lo failed: {added.stderr.strip()}")
        _claimed.add(address)
        if _port_free(address, CLIENT_PORT):
            return address
        release_address(address)  # something listens on *:53 or there without a claim
    raise ServerError(f"no address in {net}.0.0/16 with port {CLIENT_PORT} free")


def release_address(address: str) -> None:
    """Remove an address claim_address added; nothing if it is not (or no longer) ours."""
    if address in _claimed:
        _claimed.discard(address)
        _ip("addr", "del", f"{address}/32", "dev", "lo")


# Registered before _close_all, so it runs after it (atexit is last in, first out):
# servers stop before their addresses go.
@atexit.register
def _release_all_addresses() -> None:
    for address in list(_claimed):
        release_address(address)


# Every server not closed by its test is killed when the interpreter exits, so a
# crashed test run leaves no daemons behind.
_live: set[Server] = set()


@atexit.register
def _close_all() -> None:
    for server in list(_live):
        server.close()


class Managed:
    """A helper for ``with``: started on entry, closed when the block ends. ``close`` is
    ``stop`` unless the helper also has files to remove."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class Server(Managed):
    """A DNS server process: config in a temp dir, foreground, stdout+stderr to a log."""

    recursive = False

    def __init__(
        self, port: int | None = None, *, address: str = LOOPBACK, client_facing: bool = False
    ) -> None:
        # client_facing: port 53 on an address claimed for this server, given back by
        # close(), so glibc's stub can ask it (see claim_address).
        if client_facing:
            if port not in (None, CLIENT_PORT) or address != LOOPBACK:
                raise ValueError("client_facing picks its own address and listens on port 53")
            address, port = claim_address(), CLIENT_PORT
        self.client_facing = client_facing
        self.address = address
        self.port = port or free_port(address)
        self.dir = Path(tempfile.mkdtemp(prefix=f"dnsmon-test-{self.kind}-"))
        self._proc: subprocess.Popen[bytes] | None = None
        _live.add(self)

    @property
    def kind(self) -> str:
        return type(self).__name__.lower()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        return self.dir / "server.log"

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address}@{self.port} pid={self.pid}>"

    # Subclasses say how to configure, run and probe themselves.
    def _write_config(self) -> None:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def query(self, qname: str, rdtype: str = "A", **kwargs: Any) -> dns.message.Message:
        """`ask` this server; recursion desired only for resolvers unless overridden."""
        kwargs.setdefault("recursion", self.recursive)
        return ask(self, qname, rdtype, **kwargs)

    def start(self) -> Self:
        if self.running:
            return self
        self._write_config()
        command = self._command()
        self._proc = spawn(command, self.log_path, self.dir, f"--- {' '.join(command)}\n")
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_DEADLINE
        while True:
            code = self._proc.poll()
            if code is not None:
                raise ServerError(
                    f"{self!r} exited with {code} before answering; log:\n{self.log()}"
                )
            if self._is_ready():
                return
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{self!r} did not answer within {START_DEADLINE:.0f}s; log:\n{self.log()}"
                )
            time.sleep(0.02)

    def _soa_rcode(self, qname: str, source: str | None = None) -> int | None:
        """The rcode of an SOA query (None: no answer); NOERROR only with the SOA.

        `source`: the address to ask from (default: the kernel's pick)."""
        query = dns.message.make_query(qname, "SOA", use_edns=0)
        if not self.recursive:
            query.flags &= ~dns.flags.RD
        # A connected socket sees "connection refused" at once while nothing listens,
        # instead of waiting out a timeout.
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(0.25)
                if source is not None:
                    sock.bind((source, 0))
                sock.connect((self.address, self.port))
                sock.send(query.to_wire())
                response = dns.message.from_wire(sock.recv(65535))
        except (dns.exception.DNSException, OSError):
            return None
        if not query.is_response(response):
            return None
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR and not response.get_rrset(
            response.answer, query.question[0].name, dns.rdataclass.IN, dns.rdatatype.SOA
        ):
            return None
        return int(rcode)

    def pause(self) -> None:
        """SIGSTOP: the port stays bound but nothing answers, so a client (or resolver)
        waits out its timeout, as for a host that is down, instead of getting the
        instant ICMP "port unreachable" a stopped server gives."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGSTOP)  # its own session: NSD forks

    def resume(self) -> None:
        """SIGCONT after pause(); queries queued meanwhile are answered late."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after a grace period; the port is free on return."""
        self.resume()  # a paused process would not act on SIGTERM
        proc, self._proc = self._proc, None
        stop_process(proc, signal.SIGTERM, STOP_GRACE)

    def restart(self) -> Self:
        """Stop and start again on the same port, with the current configuration."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and delete the temp dir (and give back a client_facing address)."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        _live.discard(self)
        if self.client_facing:
            release_address(self.address)


S = TypeVar("S", bound=Server)


class StartServer(Protocol):
    """The type of the start_server fixture: starts a server, closes it after the test."""

    def __call__(self, server: S, /) -> S: ...


class Authoritative(Server):
    """An authoritative server for {origin: zone_text}, one file per zone."""

    def __init__(
        self, zones: Mapping[str, str], port: int | None = None, *, address: str = LOOPBACK
    ) -> None:
        super().__init__(port, address=address)
        self.zones = {origin.rstrip("."): text for origin, text in zones.items()}
        self._configured: set[str] = set()  # the zones the running config names

    def _zone_file(self, origin: str) -> Path:
        return self.dir / f"{origin}.zone"

    def _write_zones(self) -> None:
        for origin, text in self.zones.items():
            self._zone_file(origin).write_text(text)

    def _is_ready(self) -> bool:
        # Every zone must be loaded, not just the process listening.
        return all(self._soa_rcode(origin) == dns.rcode.NOERROR for origin in self.zones)

    def serial(self, origin: str = REGION) -> int:
        """The SOA serial this server answers with now."""
        response = self.query(origin, "SOA")
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(rrset[0].serial)
        raise ServerError(f"{self!r} gave no SOA for {origin}: {response}")

    def set_zone(self, origin: str, text: str) -> None:
        """Replace a zone's content and return once the server answers its new serial."""
        origin = origin.rstrip(".")
        self.zones[origin] = text
        if not self.running:
            return
        self._reload(origin)
        self._wait_serial(origin, zone_serial(origin, text))

    def _reload(self, origin: str) -> None:
        self.restart()

    def _wait_serial(self, origin: str, serial: int) -> None:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            try:
                if self.serial(origin) == serial:
                    return
            except (dns.exception.DNSException, OSError, ServerError):
                pass
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{self!r} still not serving serial {serial} of {origin}; log:\n{self.log()}"
                )
            time.sleep(0.05)


class Knot(Authoritative):
    """Knot DNS (knotd), authoritative only; never rewrites its zone files.

    A changed zone is reloaded in place (knotc zone-reload), without a restart.
    """

    @property
    def config_path(self) -> Path:
        return self.dir / "knot.conf"

    def _write_config(self) -> None:
        self._write_zones()
        self._configured = set(self.zones)
        zones = "".join(f"  - domain: {origin}\n" for origin in self.zones)
        self.config_path.write_text(f"""\
server:
    rundir: "{self.dir}"
    listen: {self.address}@{self.port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "{self.dir}"
control:
    listen: "{self.dir}/knot.sock"
template:
  - id: default
    storage: "{self.dir}"
    file: "%s.zone"
    zonefile-load: whole
    journal-content: none
    zonefile-sync: -1
zone:
{zones}""")

    def _command(self) -> list[str]:
        return [find_binary("knotd"), "-c", str(self.config_path)]

    def control(self, *args: str) -> str:
        """Run knotc against this instance; its output."""
        result = subprocess.run(
            [find_binary("knotc"), "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=START_DEADLINE,
        )
        if result.returncode != 0:
            raise ServerError(f"knotc {' '.join(args)} failed: {result.stdout}{result.stderr}")
        return result.stdout

    def _reload(self, origin: str) -> None:
        if origin not in self._configured:
            self.restart()  # a new zone needs a new config
            return
        self._write_zones()
        self.control("-b", "zone-reload", origin)


class Bind(Authoritative):
    """BIND 9 (named), authoritative only, recursion off; restarted to reload.

    Zones in `refuse_zones` are loaded but answer every query REFUSED.
    """

    def __init__(
        self,
        zones: Mapping[str, str],
        port: int | None = None,
        refuse_zones: Sequence[str] = (),
        *,
        address: str = LOOPBACK,
    ) -> None:
        super().__init__(zones, port, address=address)
        self.refuse_zones = [z.rstrip(".") for z in refuse_zones]

    @property
    def config_path(self) -> Path:
        return self.dir / "named.conf"

    def _write_config(self) -> None:
        self._write_zones()
        zones = ""
        for origin in self.zones:
            refuse = " allow-query { none; };" if origin in self.refuse_zones else ""
            zones += (
                f'zone "{origin}" {{ type primary; file "{self._zone_file(origin)}";{refuse} }};\n'
            )
        self.config_path.write_text(named_options(self) + zones)

    def _command(self) -> list[str]:
        return [find_binary("named"), "-g", "-4", "-c", str(self.config_path)]

    def _is_ready(self) -> bool:
        # A refusing zone answers SERVFAIL until it is loaded, REFUSED after.
        return all(
            self._soa_rcode(origin)
            == (dns.rcode.REFUSED if origin in self.refuse_zones else dns.rcode.NOERROR)
            for origin in self.zones
        )


def write_nsd_config(server: Server, path: Path, zones: str, verbosity: int = 1) -> None:
    """An nsd.conf for ``server`` (in its folder, on its address and port) with these
    ``zone:`` clauses, checked by nsd-checkconf."""
    path.write_text(f"""\
server:
    ip-address: {server.address}@{server.port}
    do-ip4: yes
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "{server.dir}"
    database: ""
    zonelistfile: "{server.dir}/zone.list"
    xfrdfile: "{server.dir}/xfrd.state"
    xfrdir: "{server.dir}"
    pidfile: "{server.dir}/nsd.pid"
    logfile: "{server.log_path}"
    server-count: 1
    verbosity: {verbosity}
    reuseport: no
    zonefiles-write: 0
    xfrd-reload-timeout: 0
remote-control:
    control-enable: no
{zones}""")
    check = subprocess.run(
        [find_binary("nsd-checkconf"), str(path)], capture_output=True, text=True
    )
    if check.returncode != 0:
        raise ServerError(f"nsd-checkconf rejected {path}:\n{check.stderr}")


def named_options(server: Server, extra: str = "", notify: str = "notify no;") -> str:
    """named.conf's options for an authoritative ``server`` in its folder, on its address
    and port (``extra`` lines added, ``notify`` as given), and no control channel."""
    return f"""\
options {{
    directory "{server.dir}";
    listen-on port {server.port} {{ {server.address}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    pid-file "{server.dir}/named.pid";
    session-keyfile "{server.dir}/session.key";
    managed-keys-directory "{server.dir}";
    dnssec-validation no;
    {notify}
{extra}}};
controls {{ }};
"""


class Nsd(Authoritative):
    """NSD, authoritative only; a changed zone is reloaded in place (SIGHUP).

    Like every server here it listens on one address, which may be any of 127.0.0.0/8
    (e.g. address="127.0.0.2" to share a port number with a server on 127.0.0.1).
    """

    @property
    def config_path(self) -> Path:
        return self.dir / "nsd.conf"

    def _write_config(self) -> None:
        self._write_zones()
        self._configured = set(self.zones)
        zones = "".join(
            f'zone:\n    name: "{origin}"\n    zonefile: "{self._zone_file(origin)}"\n'
            for origin in self.zones
        )
        write_nsd_config(self, self.config_path, zones)

    def _command(self) -> list[str]:
        return [find_binary("nsd"), "-d", "-c", str(self.config_path)]

    def _reload(self, origin: str) -> None:
        if origin not in self._configured or self._proc is None:
            self.restart()  # a new zone needs a new config
            return
        self._write_zones()
        os.kill(self._proc.pid, signal.SIGHUP)


class Unbound(Server):
    """Unbound as an internal caching resolver, stubbed to local authoritative servers.

    `stub_zones` maps a zone to the servers asked for it; `refuse_zones` answer REFUSED
    from Unbound itself; `extra` lines go verbatim into the `server:` clause.

    `serve_expired_ttl` turns on serving stale answers: for that many seconds past its
    TTL a cached record is answered at once with TTL 30 and EDE 3 (Stale Answer, no
    text) while Unbound retries the authority in the background; after that the name
    fails. `ede` sends EDE options (implied by serve_expired_ttl); Unbound 1.17 sends
    none on the SERVFAIL for an unreachable authority.

    `max_rtt_ms` caps the time Unbound waits for an upstream (infra-cache-max-rtt). By
    default a question whose authority is unreachable goes unanswered for over a minute;
    with max_rtt_ms=500 it gets SERVFAIL within about 0.6 s per dead server (instantly
    once they are marked down, but for a re-probe of up to 1 s every infra-host-ttl,
    10 s). It must be 400 or more: Unbound's first RTT estimate for a healthy server
    on loopback is already 284 ms (0 ms + 4 x 71 ms variance), and a server over the
    cap is never asked again.

    For glibc's stub (tests/clientlookup.py): `client_facing` listens on port 53 of an
    address of its own (claim_address). `tcp=False` is `do-tcp: no`: a truncated UDP
    answer cannot be retried over TCP (the port is closed). `access_control` maps a
    netblock to an Unbound action after the default "127.0.0.0/8 allow", e.g.
    {"127.0.0.0/8": "refuse"}: REFUSED, sent with no question section. `nxdomain`
    names answer NXDOMAIN from Unbound itself (local-zone always_nxdomain), whatever
    the authority holds.

    Traffic logs (tests/traffic.py, tests/test_traffic_sources.py): `log_queries`,
    `log_replies` and `log_tag_queryreply` are Unbound's options of those names; with
    any of them on, Unbound logs everything (not only those lines) to `query_log_path`
    instead of stderr. `log_time_ascii` stamps lines "Dec 06 15:00:42" (local time, no
    year or zone, whatever Unbound's manual says) instead of "[1796569162]". A reply
    line (log-replies) reads "[1796569162] unbound[3586:0] reply: 127.90.0.7
    ehr-db.region.internal. A IN NOERROR 0.000214 0 67" (time to resolve, from cache,
    reply size); without the tag "reply:" is "info:".

    `dnstap_socket` (a unix socket path) or `dnstap_tcp` (an address and port, plain
    TCP) sends dnstap CLIENT_QUERY and CLIENT_RESPONSE messages, with identity
    `dnstap_identity` (default "unbound"), to a Frame Streams receiver listening there
    (traffic.DnstapCapture); Unbound is the connecting side, and reconnects if the
    receiver starts later or goes away. Messages not yet sent when Unbound stops are
    lost: wait for them (DnstapCapture.wait_for) first.

    `trust_anchors` (DS or DNSKEY records as text, tests/signing.py) turn the validator
    on for their zones, with no skew allowed past a signature's expiry or before its
    inception (val-sig-skew-min/max 0, so a test's clock is Unbound's); the other stub
    zones stay insecure. Unbound then answers SERVFAIL with EDE 6 for a bogus zone.
    """

    recursive = True

    def __init__(
        self,
        stub_zones: Mapping[str, Sequence[Endpoint]],
        port: int | None = None,
        *,
        address: str = LOOPBACK,
        client_facing: bool = False,
        tcp: bool = True,
        access_control: Mapping[str, str] | None = None,
        nxdomain: Sequence[str] = (),
        refuse_zones: Sequence[str] = (),
        cache_min_ttl: int | None = None,
        cache_max_ttl: int | None = None,
        serve_expired_ttl: int | None = None,
        ede: bool = False,
        max_rtt_ms: int | None = None,
        extra: Sequence[str] = (),
        log_queries: bool = False,
        log_replies: bool = False,
        log_tag_queryreply: bool = False,
        log_time_ascii: bool = False,
        dnstap_socket: str | os.PathLike[str] | None = None,
        dnstap_tcp: Endpoint | None = None,
        dnstap_identity: str = "unbound",
        trust_anchors: Sequence[str] = (),
    ) -> None:
        super().__init__(port, address=address, client_facing=client_facing)
        self.trust_anchors = list(trust_anchors)
        if dnstap_socket is not None and dnstap_tcp is not None:
            raise ValueError("dnstap goes to one receiver: dnstap_socket or dnstap_tcp")
        self.log_queries = log_queries
        self.log_replies = log_replies
        self.log_tag_queryreply = log_tag_queryreply
        self.log_time_ascii = log_time_ascii
        self.dnstap_socket = None if dnstap_socket is None else Path(dnstap_socket).absolute()
        self.dnstap_tcp = None if dnstap_tcp is None else _endpoint(dnstap_tcp)
        self.dnstap_identity = dnstap_identity
        self.stub_zones = {z.rstrip("."): list(servers) for z, servers in stub_zones.items()}
        self.tcp = tcp
        self.access_control = dict(access_control or {})
        self.nxdomain = [name.rstrip(".") for name in nxdomain]
        self.refuse_zones = [z.rstrip(".") for z in refuse_zones]
        self.cache_min_ttl = cache_min_ttl
        self.cache_max_ttl = cache_max_ttl
        self.serve_expired_ttl = serve_expired_ttl
        self.ede = ede or serve_expired_ttl is not None
        if max_rtt_ms is not None and max_rtt_ms < 400:
            raise ValueError(f"max_rtt_ms={max_rtt_ms}: below 400 Unbound drops healthy servers")
        self.max_rtt_ms = max_rtt_ms
        self.extra = list(extra)
        self.control_port = free_port(self.address)

    @property
    def config_path(self) -> Path:
        return self.dir / "unbound.conf"

    @property
    def logs_traffic(self) -> bool:
        """Whether Unbound writes its log (with query or reply lines) to query_log_path."""
        return self.log_queries or self.log_replies

    @property
    def query_log_path(self) -> Path:
        """Unbound's `logfile:` when log_queries or log_replies is on (else stderr)."""
        return self.dir / "unbound.log"

    def log(self, tail: int = 4000) -> str:
        """The end of stderr and, when logging traffic, of the logfile too (it gets
        Unbound's own errors then)."""
        text = super().log(tail)
        if self.logs_traffic and self.query_log_path.exists():
            text += "\n--- " + str(self.query_log_path) + "\n"
            text += self.query_log_path.read_text(errors="replace")[-tail:]
        return text

    def reopen_log(self) -> None:
        """unbound-control log_reopen: after the logfile was moved away (rotated)."""
        self.control("log_reopen")

    def _log_lines(self) -> list[str]:
        if not self.logs_traffic:
            return ['logfile: ""']
        lines = [f'logfile: "{self.query_log_path}"']
        lines += [f"log-queries: {'yes' if self.log_queries else 'no'}"]
        lines += [f"log-replies: {'yes' if self.log_replies else 'no'}"]
        lines += [f"log-tag-queryreply: {'yes' if self.log_tag_queryreply else 'no'}"]
        lines += [f"log-time-ascii: {'yes' if self.log_time_ascii else 'no'}"]
        return lines

    def _dnstap_text(self) -> str:
        if self.dnstap_socket is None and self.dnstap_tcp is None:
            return ""
        lines = ["dnstap-enable: yes"]
        if self.dnstap_tcp is not None:
            address, port = self.dnstap_tcp
            lines += [f"dnstap-ip: {address}@{port}", "dnstap-tls: no"]
        else:
            lines.append(f'dnstap-socket-path: "{self.dnstap_socket}"')
        lines += [
            "dnstap-send-identity: yes",
            "dnstap-send-version: yes",
            f'dnstap-identity: "{self.dnstap_identity}"',
            "dnstap-log-client-query-messages: yes",
            "dnstap-log-client-response-messages: yes",
        ]
        return "dnstap:\n" + "".join(f"    {line}\n" for line in lines)

    def _server_lines(self) -> list[str]:
        lines = [
            'username: ""',
            'chroot: ""',
            'pidfile: ""',
            *self._log_lines(),
            "use-syslog: no",
            f'directory: "{self.dir}"',
            "verbosity: 1",
            f"interface: {self.address}@{self.port}",
            f"outgoing-interface: {self.address}",
            # Outgoing queries from the kernel's ephemeral range only, never from a
            # port a test server is about to listen on.
            f"outgoing-port-avoid: 0-{EPHEMERAL[0] - 1}",
            "do-ip6: no",
            *self._access_lines(),
            # Without this Unbound will not ask servers on 127.0.0.0/8.
            "do-not-query-localhost: no",
            # No trust anchor: no validator.
            'module-config: "validator iterator"'
            if self.trust_anchors
            else 'module-config: "iterator"',
            f'root-hints: "{self.dir}/root.hints"',
            # One thread and one socket per port, so a second instance cannot share it.
            "num-threads: 1",
            "so-reuseport: no",
            # Cache behaviour tests can predict: nothing served past its TTL (unless
            # serve_expired_ttl), nothing refreshed early, one upstream query per
            # client question.
            *self._serve_expired_lines(),
            f"ede: {'yes' if self.ede else 'no'}",
            "prefetch: no",
            "qname-minimisation: no",
            # Forget dead upstreams quickly and keep probing them, so a restarted
            # authoritative server is used again within seconds.
            "infra-host-ttl: 10",
            "infra-keep-probing: yes",
        ]
        if self.max_rtt_ms is not None:
            lines.append(f"infra-cache-max-rtt: {self.max_rtt_ms}")
        if self.cache_min_ttl is not None:
            lines.append(f"cache-min-ttl: {self.cache_min_ttl}")
        if self.cache_max_ttl is not None:
            lines.append(f"cache-max-ttl: {self.cache_max_ttl}")
        signed = {anchor.split()[0].rstrip(".") for anchor in self.trust_anchors}
        lines += [f'trust-anchor: "{anchor}"' for anchor in self.trust_anchors]
        if self.trust_anchors:
            lines += ["val-sig-skew-min: 0", "val-sig-skew-max: 0", "ede: yes"]
        for zone in self.stub_zones:
            if zone not in signed:
                lines.append(f'domain-insecure: "{zone}"')
            if zone not in self.refuse_zones:
                # Overrides built-in local zones (e.g. 127.in-addr.arpa) above a stub.
                lines.append(f'local-zone: "{zone}" transparent')
        lines += [f'local-zone: "{zone}" refuse' for zone in self.refuse_zones]
        lines += [f'local-zone: "{name}" always_nxdomain' for name in self.nxdomain]
        if not self.tcp:
            lines.append("do-tcp: no")
        return lines + self.extra

    def _access_lines(self) -> list[str]:
        acl = {"127.0.0.0/8": "allow", **self.access_control}
        return [f"access-control: {net} {action}" for net, action in acl.items()]

    def _serve_expired_lines(self) -> list[str]:
        if self.serve_expired_ttl is None:
            return ["serve-expired: no"]
        return [
            "serve-expired: yes",
            f"serve-expired-ttl: {self.serve_expired_ttl}",
            # Counted from expiry, not reset by failed refreshes.
            "serve-expired-ttl-reset: no",
            f"serve-expired-reply-ttl: {STALE_REPLY_TTL}",
            # Answer the stale record at once, refresh in the background.
            "serve-expired-client-timeout: 0",
            "ede-serve-expired: yes",
        ]

    def _write_config(self) -> None:
        # Root hints nobody answers: nothing outside the stubs is ever resolved.
        (self.dir / "root.hints").write_text(ROOT_HINTS)
        text = "server:\n" + "".join(f"    {line}\n" for line in self._server_lines())
        text += (
            "remote-control:\n    control-enable: yes\n"
            f"    control-interface: {self.address}\n"
            f"    control-port: {self.control_port}\n    control-use-cert: no\n"
        )
        for zone, servers in self.stub_zones.items():
            text += f'stub-zone:\n    name: "{zone}"\n'
            for server in servers:
                address, port = _endpoint(server)
                text += f"    stub-addr: {address}@{port}\n"
        text += self._dnstap_text()
        write_checked(self.config_path, text, "unbound-checkconf")

    def _command(self) -> list[str]:
        return [find_binary("unbound"), "-d", "-p", "-c", str(self.config_path)]

    def _is_ready(self) -> bool:
        # A built-in local zone: answers without any upstream being up (REFUSED where
        # access_control refuses us).
        rcode = self._soa_rcode("localhost.")
        if rcode == dns.rcode.REFUSED:
            return "refuse" in self.access_control.values()
        return rcode == dns.rcode.NOERROR

    def control(self, *args: str) -> str:
        """Run unbound-control against this instance; its output."""
        result = subprocess.run(
            [find_binary("unbound-control"), "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=START_DEADLINE,
        )
        if result.returncode != 0:
            raise ServerError(
                f"unbound-control {' '.join(args)} failed: {result.stdout}{result.stderr}"
            )
        return result.stdout

    def stats(self) -> dict[str, float]:
        """Counters since start, e.g. stats()["total.num.queries"]."""
        pairs = (line.split("=", 1) for line in self.control("stats_noreset").splitlines())
        return {key: float(value) for key, value in pairs}

    def flush(self) -> None:
        """Forget cached answers and what it learned about upstream servers.

        Queries still in flight are dropped first, or their late timeouts would mark
        an upstream slow again; restart() is the only fully clean slate.
        """
        for args in (("flush_requestlist",), ("flush_zone", "."), ("flush_infra", "all")):
            self.control(*args)


# In BindResolver(broken_view_clients=...): this server's own address.
OWN_ADDRESS = "self"


class BindResolver(Server):
    """BIND 9 (named) as an internal caching resolver for the test zones.

    `forward_zones` maps a zone to the servers asked for it, each on its own port
    (`forward only`: named never looks past them). `stub_zones` maps a zone to bare
    addresses (a static-stub zone): named asks them, and follows any delegation below
    them, on `query_port`, the one port it then uses for every upstream (BIND's
    `options { port }`); that is how it reaches a delegated child on a high port,
    which Unbound cannot. Root hints point at FAKE_ROOT, where nothing listens.

    `max_stale_ttl` turns on serving stale answers: for that many seconds past its TTL
    a cached record is answered at once with TTL 30 and EDE 3 ("stale data prioritized
    over lookup") while named refreshes it in the background; after that the name
    fails with SERVFAIL.

    Its SERVFAIL for an unreachable authority carries no EDE. It comes at once when the
    authority's port is closed (ICMP refused: a stopped server) but only after 10 s
    when the authority is silent (a paused server): resolver-query-timeout cannot be
    set lower in BIND 9.18.

    `client_facing`: port 53 on an address of its own (claim_address), for glibc.

    `primary_zones` ({origin: zone text}) it also serves itself, as an Active Directory
    DNS server is a resolver for its clients and authoritative for the AD zone;
    break_zone() makes one fail to load and set_primary_zone() replaces it.

    `also_listen`: more (address, port) pairs it answers on, e.g. 127.0.0.1 and a high
    port besides its client-facing address.

    `broken_view_clients`: split horizon. Queries whose source address is listed
    (OWN_ADDRESS: this server's own address, the source glibc on this machine uses
    towards a client_facing server) land in the view "wards", where every name but
    localhost is forwarded to an address nobody listens on and fails with SERVFAIL;
    every other source gets the view "default", which works.

    Traffic logs (tests/traffic.py): `querylog` logs each client question, one line, to
    `query_log_path` (a `logging` channel for the category queries, print-time
    `querylog_time`: "yes" gives "06-Dec-2026 15:00:42.123" in local time, "iso8601-utc"
    "2026-12-06T15:00:42.123Z"; `querylog_category` adds "queries: info: "). No rcode,
    no answer. named then runs with -f instead of -g (which ignores `logging`) and
    sends its other messages to stderr itself.

    `dnstap_file` (a file named writes, Frame Streams format) or `dnstap_socket` (a
    unix socket a receiver listens on, traffic.DnstapCapture) logs dnstap for
    `dnstap_messages` (the `dnstap { … }` clause, default "client": CLIENT_QUERY and
    CLIENT_RESPONSE), identity `dnstap_identity`. named writes the file out in whole
    blocks (4 and 16 KiB seen) about once a second (fstrm-set-flush-timeout 1), so
    until it stops the file may end mid-frame and has no closing STOP frame. Its
    messages are not in time order. reopen_logs() (SIGHUP, a reload) makes named
    reopen its query log after rotation.
    """

    recursive = True
    WARDS_VIEW = "wards"

    def __init__(
        self,
        forward_zones: Mapping[str, Sequence[Endpoint]] | None = None,
        port: int | None = None,
        *,
        address: str = LOOPBACK,
        client_facing: bool = False,
        stub_zones: Mapping[str, Sequence[str]] | None = None,
        query_port: int | None = None,
        max_stale_ttl: int | None = None,
        primary_zones: Mapping[str, str] | None = None,
        broken_view_clients: Sequence[str] = (),
        also_listen: Sequence[tuple[str, int]] = (),
        extra: Sequence[str] = (),
        querylog: bool = False,
        querylog_time: Literal["yes", "local", "iso8601", "iso8601-utc"] = "yes",
        querylog_category: bool = False,
        dnstap_file: str | os.PathLike[str] | None = None,
        dnstap_socket: str | os.PathLike[str] | None = None,
        dnstap_messages: str = "client",
        dnstap_identity: str = "bind-resolver",
    ) -> None:
        super().__init__(port, address=address, client_facing=client_facing)
        if dnstap_file is not None and dnstap_socket is not None:
            raise ValueError("dnstap goes to one output: dnstap_file or dnstap_socket")
        self.querylog = querylog
        self.querylog_time = querylog_time
        self.querylog_category = querylog_category
        self.dnstap_file = None if dnstap_file is None else Path(dnstap_file).absolute()
        self.dnstap_socket = None if dnstap_socket is None else Path(dnstap_socket).absolute()
        self.dnstap_messages = dnstap_messages
        self.dnstap_identity = dnstap_identity
        self.also_listen = list(also_listen)  # more (address, port) to answer on
        self.primary_zones = {z.rstrip("."): text for z, text in (primary_zones or {}).items()}
        self.broken_zones: set[str] = set()
        self.broken_view_clients = list(broken_view_clients)
        self.forward_zones = {
            z.rstrip("."): list(servers) for z, servers in (forward_zones or {}).items()
        }
        self.stub_zones = {z.rstrip("."): list(addrs) for z, addrs in (stub_zones or {}).items()}
        if self.stub_zones and query_port is None:
            raise ValueError("stub_zones need query_port: the port their servers listen on")
        self.query_port = query_port
        self.max_stale_ttl = max_stale_ttl
        self.extra = list(extra)

    @property
    def config_path(self) -> Path:
        return self.dir / "named.conf"

    def _options(self) -> list[str]:
        lines = [
            f'directory "{self.dir}";',
            f"listen-on port {self.port} {{ {self.address}; }};",
            *(f"listen-on port {port} {{ {address}; }};" for address, port in self.also_listen),
            "listen-on-v6 { none; };",
            f"query-source address {self.address};",
            "recursion yes;",
            "allow-query { 127.0.0.0/8; };",
            "allow-recursion { 127.0.0.0/8; };",
            "allow-query-cache { 127.0.0.0/8; };",
            f'pid-file "{self.dir}/named.pid";',
            f'session-keyfile "{self.dir}/session.key";',
            f'managed-keys-directory "{self.dir}";',
            "dnssec-validation no;",
            "notify no;",
            # No built-in empty zones (127.in-addr.arpa is one): nothing local may
            # shadow a test zone.
            "empty-zones-enable no;",
            # Cache behaviour tests can predict, as for Unbound.
            "qname-minimization off;",
            "prefetch 0;",
            "max-cache-size 64m;",
        ]
        if self.query_port is not None:
            lines.append(f"port {self.query_port};")
        if self.querylog:
            lines.append("querylog yes;")
        lines += self._dnstap_lines()
        if self.max_stale_ttl is None:
            lines.append("stale-answer-enable no;")
        else:
            lines += [
                "stale-cache-enable yes;",
                "stale-answer-enable yes;",
                f"max-stale-ttl {self.max_stale_ttl};",
                f"stale-answer-ttl {STALE_REPLY_TTL};",
                # Answer the stale record at once, refresh in the background.
                "stale-answer-client-timeout 0;",
            ]
        return lines + self.extra

    @property
    def query_log_path(self) -> Path:
        """Where querylog=True writes (named's channel for the category queries)."""
        return self.dir / "query.log"

    def reopen_logs(self) -> None:
        """SIGHUP: named reloads, reopening its log channel and dnstap output (after
        they were moved away); returns once it answers again."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGHUP)
            self._wait_ready()  # it answers while it reloads: wait for the log it reopens
            deadline = time.monotonic() + 10
            while self.querylog and not self.query_log_path.exists():
                if time.monotonic() > deadline:
                    raise ServerError(f"named did not reopen {self.query_log_path}")
                time.sleep(0.02)

    def _dnstap_lines(self) -> list[str]:
        if self.dnstap_file is not None:
            output = f'dnstap-output file "{self.dnstap_file}";'
        elif self.dnstap_socket is not None:
            output = f'dnstap-output unix "{self.dnstap_socket}";'
        else:
            return []
        return [
            f"dnstap {{ {self.dnstap_messages}; }};",
            output,
            f'dnstap-identity "{self.dnstap_identity}";',
            "fstrm-set-flush-timeout 1;",
        ]

    def _logging_text(self) -> str:
        if not self.querylog:
            return ""
        tags = "print-category yes; print-severity yes; " if self.querylog_category else ""
        # named -g would ignore this statement, so with querylog it runs with -f and
        # sends everything else to stderr (the server log) itself.
        return (
            "logging {\n"
            f'    channel query_file {{ file "{self.query_log_path}"; severity info; '
            f"print-time {self.querylog_time}; {tags}}};\n"
            "    channel to_stderr { stderr; severity info; print-time yes; };\n"
            "    category default { to_stderr; };\n"
            "    category queries { query_file; };\n"
            "};\n"
        )

    @property
    def view_clients(self) -> list[str]:
        """broken_view_clients with OWN_ADDRESS resolved."""
        return [self.address if c == OWN_ADDRESS else c for c in self.broken_view_clients]

    def _primary_file(self, origin: str) -> Path:
        return self.dir / f"primary-{origin}.zone"

    def break_zone(self, origin: str) -> None:
        """Make a primary zone fail to load (its file loses the SOA) and restart if running."""
        origin = origin.rstrip(".")
        if origin not in self.primary_zones:
            raise KeyError(f"{origin} is not one of {self}'s primary zones")
        self.broken_zones.add(origin)
        if self.running:
            self.restart()

    def set_primary_zone(self, origin: str, text: str) -> None:
        """Serve `text` for a primary zone (repairing a broken one), restarting if running."""
        origin = origin.rstrip(".")
        self.primary_zones[origin] = text
        self.broken_zones.discard(origin)
        if self.running:
            self.restart()

    def _write_config(self) -> None:
        (self.dir / "root.hints").write_text(ROOT_HINTS)
        # A zone of its own, so readiness needs no upstream.
        (self.dir / "localhost.zone").write_text(
            "$TTL 3600\n@ SOA localhost. root.localhost. 1 3600 600 86400 3600\n"
            "@ NS localhost.\n@ A 127.0.0.1\n"
        )
        for origin, zone_text in self.primary_zones.items():
            broken = origin in self.broken_zones
            self._primary_file(origin).write_text(broken_zone(origin) if broken else zone_text)
        text = "options {\n" + "".join(f"    {line}\n" for line in self._options()) + "};\n"
        text += "controls { };\n"
        text += self._logging_text()
        base = 'zone "." { type hint; file "root.hints"; };\n'
        base += 'zone "localhost" { type primary; file "localhost.zone"; };\n'
        zones = base + self._zone_statements()
        if self.view_clients:
            clients = " ".join(f"{client};" for client in self.view_clients)
            text += (
                f'view "{self.WARDS_VIEW}" {{\n    match-clients {{ {clients} }};\n'
                f"    forward only;\n    forwarders {{ {FAKE_ROOT} port 53; }};\n{base}}};\n"
                f'view "default" {{\n    match-clients {{ any; }};\n{zones}}};\n'
            )
        else:
            text += zones
        write_checked(self.config_path, text, "named-checkconf")

    def _zone_statements(self) -> str:
        text = ""
        for origin in self.primary_zones:
            text += f'zone "{origin}" {{ type primary; file "{self._primary_file(origin)}"; }};\n'
        for zone, servers in self.forward_zones.items():
            forwarders = " ".join(
                f"{address} port {port};" for address, port in map(_endpoint, servers)
            )
            text += (
                f'zone "{zone}" {{ type forward; forward only; forwarders {{ {forwarders} }}; }};\n'
            )
        for zone, addresses in self.stub_zones.items():
            listed = " ".join(f"{address};" for address in addresses)
            text += f'zone "{zone}" {{ type static-stub; server-addresses {{ {listed} }}; }};\n'
        return text

    def _command(self) -> list[str]:
        foreground = "-f" if self.querylog else "-g"
        return [find_binary("named"), foreground, "-4", "-c", str(self.config_path)]

    def _is_ready(self) -> bool:
        if self._soa_rcode("localhost.") != dns.rcode.NOERROR:
            return False
        # Primary zones must be loaded too; they are asked from the default view.
        source = LOOPBACK if LOOPBACK not in self.view_clients else None
        return all(
            self._soa_rcode(origin, source) == dns.rcode.NOERROR
            for origin in self.primary_zones
            if origin not in self.broken_zones
        )


class PdnsRecursor(Server):
    """PowerDNS Recursor (pdns_recursor) in the foreground, forwarding the test zones.

    `forward_zones` maps a zone to the servers asked for it, each on its own port
    (forward-zones, recursion off towards them). Root hints point at FAKE_ROOT, the
    security poll is off, and a zone of its own, READY_ZONE (auth-zones), answers the
    readiness SOA without any upstream (its built-in localhost has no SOA).

    Traffic log: with `quiet=False` (the default here; pdns's own default is quiet)
    it logs every client question to stdout, i.e. query_log_path (= log_path). With
    `structured_logging` (4.8's default) a question is a key=value line, e.g.
    'Dec 06 15:00:37 msg="Question" subsystem="syncres" … ts="1796569237.309" … proto="udp"
    qname="ehr-db.region.internal" qtype="A" remote="127.90.0.7:51801"', followed by an
    "Answer" line with rcode=; a packet-cache hit is one line msg="Question answered
    from packet cache" with qname, qtype and remote. Without it the old format, whose
    packet-cache line names no question: "1 question answered from packet cache tag=0
    from 127.91.0.1:55734". `log_timestamp=False` drops the leading "Dec 06 15:00:37"
    (as systemd units run it). Its dnstap (not set up here) carries only its own
    outgoing queries, not clients'.
    """

    recursive = True
    READY_ZONE = "recursor.test"

    def __init__(
        self,
        forward_zones: Mapping[str, Sequence[Endpoint]],
        port: int | None = None,
        *,
        address: str = LOOPBACK,
        client_facing: bool = False,
        quiet: bool = False,
        structured_logging: bool = True,
        log_timestamp: bool = True,
        extra: Sequence[str] = (),
    ) -> None:
        super().__init__(port, address=address, client_facing=client_facing)
        self.forward_zones = {z.rstrip("."): list(servers) for z, servers in forward_zones.items()}
        self.quiet = quiet
        self.structured_logging = structured_logging
        self.log_timestamp = log_timestamp
        self.extra = list(extra)  # more `setting=value` lines

    @property
    def kind(self) -> str:
        return "pdns-recursor"

    @property
    def config_path(self) -> Path:
        return self.dir / "recursor.conf"

    @property
    def query_log_path(self) -> Path:
        """Where it logs questions: its stdout, the server log."""
        return self.log_path

    def _write_config(self) -> None:
        (self.dir / "root.hints").write_text(ROOT_HINTS)
        (self.dir / "ready.zone").write_text(
            f"$ORIGIN {self.READY_ZONE}.\n$TTL 3600\n"
            "@ SOA @ root 1 3600 600 86400 3600\n@ NS @\n@ A 127.0.0.1\n"
        )
        forwards = ",".join(
            f"{zone}=" + ";".join(f"{a}:{p}" for a, p in map(_endpoint, servers))
            for zone, servers in self.forward_zones.items()
        )
        yes_no = {True: "yes", False: "no"}
        lines = [
            f"config-dir={self.dir}",
            f"socket-dir={self.dir}",
            f"local-address={self.address}",
            f"local-port={self.port}",
            f"query-local-address={self.address}",
            "daemon=no",
            "write-pid=no",
            "disable-syslog=yes",
            f"log-timestamp={yes_no[self.log_timestamp]}",
            f"quiet={yes_no[self.quiet]}",
            "loglevel=6",
            f"structured-logging={yes_no[self.structured_logging]}",
            "allow-from=127.0.0.0/8",
            f"hint-file={self.dir / 'root.hints'}",
            # Its default refuses to ask 127.0.0.0/8, which is where the tests' servers are.
            "dont-query=",
            "security-poll-suffix=",
            f"auth-zones={self.READY_ZONE}={self.dir / 'ready.zone'}",
            "threads=1",
            "pdns-distributes-queries=no",
            "reuseport=no",
            # Cache behaviour tests can predict, as for Unbound and BIND.
            "refresh-on-ttl-perc=0",
            "serve-stale-extensions=0",
        ]
        if forwards:
            lines.append(f"forward-zones={forwards}")
        self.config_path.write_text("\n".join(lines + self.extra) + "\n")

    def _command(self) -> list[str]:
        return [find_binary("pdns_recursor"), f"--config-dir={self.dir}"]

    def _is_ready(self) -> bool:
        return self._soa_rcode(self.READY_ZONE) == dns.rcode.NOERROR


class KnotResolver(Server):
    """Knot Resolver 5 (kresd) forwarding the test zones, with dnstap to a socket.

    `forward_zones` maps a zone to the servers asked for it (policy.FORWARD, which
    follows a CNAME into another forwarded zone; policy.STUB does not). Its root
    hints point at FAKE_ROOT, where nothing listens, and the modules that would ask
    the root on their own (priming, trust anchor updates, time checks) are off.
    Ready when its built-in localhost answers SOA.

    kresd has no query log; `dnstap_socket` sends dnstap CLIENT_QUERY and
    CLIENT_RESPONSE, identity `dnstap_identity`, to a Frame Streams receiver listening
    on that unix socket (traffic.DnstapCapture), started before kresd.
    """

    recursive = True

    def __init__(
        self,
        forward_zones: Mapping[str, Sequence[Endpoint]],
        port: int | None = None,
        *,
        address: str = LOOPBACK,
        client_facing: bool = False,
        dnstap_socket: str | os.PathLike[str] | None = None,
        dnstap_identity: str = "kresd",
        extra: Sequence[str] = (),
    ) -> None:
        super().__init__(port, address=address, client_facing=client_facing)
        self.forward_zones = {z.rstrip("."): list(servers) for z, servers in forward_zones.items()}
        self.dnstap_socket = None if dnstap_socket is None else Path(dnstap_socket).absolute()
        self.dnstap_identity = dnstap_identity
        self.extra = list(extra)  # more Lua lines

    @property
    def kind(self) -> str:
        return "kresd"

    @property
    def config_path(self) -> Path:
        return self.dir / "kresd.conf"

    def _write_config(self) -> None:
        lines = [
            f"net.listen('{self.address}', {self.port}, {{ kind = 'dns' }})",
            f"net.outgoing_v4('{self.address}')",
            "net.ipv6 = false",
            *(f"modules.unload('{m}')" for m in
              ("ta_update", "ta_signal_query", "priming", "detect_time_skew",
               "detect_time_jump")),
            "trust_anchors.remove('.')",
            "modules.load('hints > iterate')",
            f"hints.root({{ ['fake-root.'] = '{FAKE_ROOT}' }})",
            f"cache.open(16 * MB, 'lmdb://{self.dir}/cache')",
        ]  # fmt: skip
        if self.dnstap_socket is not None:
            lines += [
                "modules.load('dnstap')",
                f"dnstap.config({{ socket_path = '{self.dnstap_socket}', "
                f"identity = '{self.dnstap_identity}', "
                "client = { log_queries = true, log_responses = true } })",
            ]
        for zone, servers in self.forward_zones.items():
            targets = ", ".join(f"'{a}@{p}'" for a, p in map(_endpoint, servers))
            lines.append(
                f"policy.add(policy.suffix(policy.FORWARD({{ {targets} }}), "
                f"policy.todnames({{ '{zone}' }})))"
            )
        self.config_path.write_text("\n".join(lines + self.extra) + "\n")

    def _command(self) -> list[str]:
        return [find_binary("kresd"), "-n", "-c", str(self.config_path), str(self.dir)]

    def _is_ready(self) -> bool:
        return self._soa_rcode("localhost.") == dns.rcode.NOERROR


class Responder(Managed):
    """A fake DNS server in this process: UDP, and TCP if `tcp`, on one port, served by
    background threads. Subclasses say what `reply` sends; `queries` counts the
    well-formed queries received. Start/stop or use as a context manager.

    HostileResponder here misbehaves at the wire level; responders.ZoneResponder answers
    from a zone with one protocol quirk.
    """

    def __init__(
        self, *, tcp: bool = False, port: int | None = None, address: str = LOOPBACK
    ) -> None:
        self.tcp = tcp
        self.address = address
        self.port = port or free_port(address)
        self.queries = 0
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def reply(self, wire: bytes, tcp: bool = False) -> bytes | None:
        """What to send back for one query received over UDP or TCP; None: no answer."""
        raise NotImplementedError

    def _listens_tcp(self) -> bool:
        return self.tcp

    def start(self) -> Self:
        if self.running:
            return self
        self._stop.clear()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((self.address, self.port))
        self._serve(udp, self._udp_loop)
        if self._listens_tcp():
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((self.address, self.port))
            tcp.listen(16)
            self._serve(tcp, self._tcp_loop)
        return self

    def _serve(self, sock: socket.socket, loop: Any) -> None:
        sock.settimeout(0.1)  # so the loop notices stop()
        self._sockets.append(sock)
        thread = threading.Thread(
            target=loop, args=(sock,), daemon=True, name=f"{type(self).__name__}-{self.port}"
        )
        self._threads.append(thread)
        thread.start()

    def _udp_loop(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            answer = self.reply(wire, False)
            if answer is not None:
                sock.sendto(answer, peer)

    def _tcp_loop(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self._tcp_connection(conn)

    def _tcp_connection(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        buffer = b""
        while not self._stop.is_set():
            try:
                chunk = conn.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while len(buffer) >= 2 and len(buffer) >= 2 + int.from_bytes(buffer[:2], "big"):
                size = int.from_bytes(buffer[:2], "big")
                wire, buffer = buffer[2 : 2 + size], buffer[2 + size :]
                answer = self.reply(wire, True)
                if answer is not None:
                    conn.sendall(len(answer).to_bytes(2, "big") + answer)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for sock in self._sockets:
            sock.close()
        self._threads.clear()
        self._sockets.clear()


HostileMode = Literal["garbage", "wrong_id", "truncated", "silent", "servfail", "formerr", "notimp"]
HOSTILE_MODES: tuple[HostileMode, ...] = (
    "garbage", "wrong_id", "truncated", "silent", "servfail", "formerr", "notimp"
)  # fmt: skip


RCODES = {"servfail": dns.rcode.SERVFAIL, "formerr": dns.rcode.FORMERR,
          "notimp": dns.rcode.NOTIMP}  # fmt: skip


class HostileResponder(Responder):
    """A fake DNS server that misbehaves on purpose, in a background thread.

    garbage: random bytes that never parse; wrong_id: a well-formed reply with another
    message ID; truncated: TC set, no answer, and no TCP listener so the TCP retry is
    refused; silent: never answers; servfail, formerr, notimp: a well-formed reply with
    that rcode.
    With `tcp=True` it also listens on TCP (except in truncated mode) and misbehaves
    the same way there. `mode` may be changed while running.
    """

    def __init__(
        self, mode: HostileMode = "garbage", *, tcp: bool = False, port: int | None = None,
        address: str = LOOPBACK,
    ) -> None:  # fmt: skip
        if mode not in HOSTILE_MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {HOSTILE_MODES}")
        super().__init__(tcp=tcp, port=port, address=address)
        self.mode: HostileMode = mode

    def _listens_tcp(self) -> bool:
        return self.tcp and self.mode != "truncated"

    def reply(self, wire: bytes, tcp: bool = False) -> bytes | None:
        """What this responder sends back for one query; None for no answer."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        self.queries += 1
        if self.mode == "silent":
            return None
        if self.mode == "garbage":
            # Keeps the query's ID but claims 65535 questions, so parsing must fail.
            return wire[:2] + b"\x81\x80\xff\xff" + os.urandom(42)
        response = dns.message.make_response(query)
        if self.mode in RCODES:
            response.set_rcode(RCODES[self.mode])
        elif self.mode == "truncated":
            response.flags |= dns.flags.TC
        elif self.mode == "wrong_id":
            response.id = (query.id + 1) % 65536
            question = query.question[0]
            if question.rdtype == dns.rdatatype.A:
                response.answer.append(
                    dns.rrset.from_text(question.name, 300, "IN", "A", "127.0.0.99")
                )
        return response.to_wire()


# What a generated probes.yaml asks and which services depend on it, after the
# example in the product contract.
DEFAULT_NAMES: list[dict[str, Any]] = [
    {"name": "ehr-db.region.internal", "type": "A", "expect": ["127.20.1.15"]},
    {"name": "_ldap._tcp.region.internal", "type": "SRV"},
    {"name": "ehr-ro.region.internal", "type": "A"},
]
DEFAULT_SERVICES: list[dict[str, Any]] = [
    {
        "name": "sso",
        "description": "Single sign-on",
        "criticality": "critical",
        "depends_on": ["_ldap._tcp.region.internal"],
    },
    {
        "name": "ehr",
        "description": "Electronic health record",
        "criticality": "critical",
        "depends_on": ["ehr-db.region.internal", "service:sso"],
        "backups": [
            {
                "name": "ehr-readonly",
                "description": "Read-only copy of the record",
                "depends_on": ["ehr-ro.region.internal"],
            },
            {
                "name": "paper-forms",
                "description": "Paper forms and the printed ward list",
                "depends_on": [],
            },
        ],
    },
]
# Short timeouts: a dead server costs a test seconds, not minutes.
TEST_DEFAULTS: dict[str, Any] = {
    "interval": "5s",
    "timeout": "1s",
    "attempts": 2,
    "transport": "udp",
}


class ServerGroup(Managed):
    """Servers started, stopped and closed together; ``servers`` names them."""

    @property
    def servers(self) -> Mapping[str, Server]:
        raise NotImplementedError

    def start(self) -> Self:
        try:
            for server in self.servers.values():
                server.start()
        except BaseException:
            self.close()
            raise
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def close(self) -> None:
        for server in self.servers.values():
            server.close()


class TestRegion(ServerGroup):
    """The standard integration topology for region.internal and 20.127.in-addr.arpa.

    ns1 is Knot, ns2 is BIND, both authoritative for both zones; resolver-a and
    resolver-b are Unbound instances stubbed to both. `serials` overrides the zone
    serial per authoritative server (e.g. {"ns2": 2026112500}) so they can disagree;
    `resolver_options` go to both Unbound constructors.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        serial: int = DEFAULT_SERIAL,
        ttl: int = 300,
        *,
        serials: Mapping[str, int] | None = None,
        overrides: Records | None = None,
        resolver_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.ttl = ttl
        serials = serials or {}
        self._initial = {
            name: region_zones(serials.get(name, serial), ttl, overrides) for name in ("ns1", "ns2")
        }
        self.ns1 = Knot(self._initial["ns1"])
        self.ns2 = Bind(self._initial["ns2"])
        stubs: dict[str, list[Endpoint]] = {
            REGION: [self.ns1, self.ns2],
            REVERSE: [self.ns1, self.ns2],
        }
        options = dict(resolver_options or {})
        self.resolver_a = Unbound(stubs, **options)
        self.resolver_b = Unbound(stubs, **options)

    @property
    def servers(self) -> dict[str, Server]:
        """By the names a probes.yaml gives them, authoritative servers first."""
        return {
            "ns1": self.ns1,
            "ns2": self.ns2,
            "resolver-a": self.resolver_a,
            "resolver-b": self.resolver_b,
        }

    @property
    def authoritative(self) -> dict[str, Authoritative]:
        return {"ns1": self.ns1, "ns2": self.ns2}

    @property
    def resolvers(self) -> dict[str, Unbound]:
        return {"resolver-a": self.resolver_a, "resolver-b": self.resolver_b}

    def __getitem__(self, name: str) -> Server:
        return self.servers[name]

    def set_zone(
        self, server: str, serial: int, ttl: int | None = None, overrides: Records | None = None
    ) -> None:
        """Rewrite region.internal on one authoritative server and reload it."""
        text = region_zone(serial, self.ttl if ttl is None else ttl, overrides)
        self.authoritative[server].set_zone(REGION, text)

    def reset(self) -> None:
        """Back to the initial zones with every server running and empty caches."""
        for name, server in self.authoritative.items():
            for origin, text in self._initial[name].items():
                if server.zones.get(origin) != text:
                    server.set_zone(origin, text)
            server.start()
        for resolver in self.resolvers.values():
            resolver.restart()

    def probes_yaml(
        self,
        names: Sequence[Mapping[str, Any]] | None = None,
        services: Sequence[Mapping[str, Any]] | None = None,
        *,
        servers: Iterable[str] | None = None,
        extra_servers: Sequence[Mapping[str, Any]] = (),
        defaults: Mapping[str, Any] | None = None,
        site: str = "test-site",
    ) -> str:
        """A probes.yaml for this region; `defaults` are merged over TEST_DEFAULTS."""
        chosen = list(self.servers) if servers is None else list(servers)
        entries: list[dict[str, Any]] = []
        for name in chosen:
            server = self.servers[name]
            entry: dict[str, Any] = {"name": name, "address": server.address, "port": server.port}
            if server.recursive:
                entry["role"] = "recursive"
            else:
                entry["role"] = "authoritative"
                entry["zones"] = [REGION, REVERSE]
            entries.append(entry)
        document = {
            "version": 1,
            "site": site,
            "defaults": {**TEST_DEFAULTS, **(defaults or {})},
            "servers": entries + [dict(s) for s in extra_servers],
            "names": [dict(n) for n in (DEFAULT_NAMES if names is None else names)],
            "services": [dict(s) for s in (DEFAULT_SERVICES if services is None else services)],
        }
        return yaml.safe_dump(document, sort_keys=False)

    def write_probes(self, path: Path, **kwargs: Any) -> Path:
        """probes_yaml(**kwargs) written to `path`."""
        path.write_text(self.probes_yaml(**kwargs))
        return path


class DelegatedRegion(ServerGroup):
    """A parent zone that delegates a child zone to another server, and a resolver
    that follows the delegation.

    parent: Knot at 127.0.0.1:`port`, authoritative for region.internal (with an NS
    record and glue sending sub.region.internal to `child_address`) and for
    20.127.in-addr.arpa; child: NSD at `child_address`:`port`, authoritative for
    sub.region.internal (app.sub.region.internal A 127.20.9.1); resolver: a
    BindResolver static-stubbed to the parent, querying every server on `port`.
    Parent and child share the port because a resolver follows a referral to the
    glue address on one port for all (53 in production; here `port`).

        with DelegatedRegion(ttl=5) as region:
            region.parent.query("app.sub.region.internal")      # a referral, AA=0
            region.resolver.query("app.sub.region.internal")    # 127.20.9.1
    """

    def __init__(
        self,
        serial: int = DEFAULT_SERIAL,
        ttl: int = 300,
        *,
        port: int | None = None,
        child_address: str = SUB_SERVER,
        resolver_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.port = port or free_port(LOOPBACK, child_address)
        self.parent = Knot(
            {
                REGION: region_zone(serial, ttl, delegation_records(server=child_address)),
                REVERSE: region_reverse_zone(serial, ttl),
            },
            self.port,
        )
        self.child = Nsd(
            {SUB: sub_zone(serial, ttl, server=child_address)}, self.port, address=child_address
        )
        self.resolver = BindResolver(
            stub_zones={REGION: [LOOPBACK], REVERSE: [LOOPBACK]},
            query_port=self.port,
            **dict(resolver_options or {}),
        )

    @property
    def servers(self) -> dict[str, Server]:
        return {"parent": self.parent, "child": self.child, "resolver": self.resolver}
