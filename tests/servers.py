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
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
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
from zones import DEFAULT_SERIAL, REGION, REVERSE, Records, region_zone, region_zones

LOOPBACK = "127.0.0.1"
START_DEADLINE = 15.0
STOP_GRACE = 3.0
# Server binaries live in sbin, which a non-root PATH often lacks.
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")
PACKAGES = {
    "knotd": "knot",
    "knotc": "knot",
    "named": "bind9",
    "unbound": "unbound",
    "unbound-checkconf": "unbound",
    "unbound-control": "unbound",
}


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


def missing_binaries(names: Iterable[str] = PACKAGES) -> list[str]:
    missing = []
    for name in names:
        try:
            find_binary(name)
        except MissingBinary:
            missing.append(name)
    return missing


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


def free_port() -> int:
    """A port on 127.0.0.1 that is free for both UDP and TCP right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((LOOPBACK, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((LOOPBACK, port))
                except OSError:
                    continue
                return port


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
) -> dns.message.Message:
    """One query, no retries: a truncated UDP answer is returned as it is.

    `payload` is the EDNS buffer size; None sends no EDNS (512-byte UDP limit).
    """
    address, port = _endpoint(target)
    if payload is None:
        query = dns.message.make_query(qname, rdtype)
    else:
        query = dns.message.make_query(qname, rdtype, use_edns=0, payload=payload)
    if not recursion:
        query.flags &= ~dns.flags.RD
    if tcp:
        return dns.query.tcp(query, address, timeout=timeout, port=port)
    return dns.query.udp(query, address, timeout=timeout, port=port)


def zone_serial(origin: str, text: str) -> int:
    zone = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)
    return int(zone.get_soa().serial)


# Every server not closed by its test is killed when the interpreter exits, so a
# crashed test run leaves no daemons behind.
_live: set[Server] = set()


@atexit.register
def _close_all() -> None:
    for server in list(_live):
        server.close()


class Server:
    """A DNS server process: config in a temp dir, foreground, stdout+stderr to a log."""

    recursive = False

    def __init__(self, port: int | None = None) -> None:
        self.address = LOOPBACK
        self.port = port or free_port()
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
        with open(self.log_path, "ab") as log:
            log.write(f"--- {' '.join(command)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                command,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
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

    def _soa_rcode(self, qname: str) -> int | None:
        """The rcode of an SOA query (None: no answer); NOERROR only with the SOA."""
        query = dns.message.make_query(qname, "SOA", use_edns=0)
        if not self.recursive:
            query.flags &= ~dns.flags.RD
        # A connected socket sees "connection refused" at once while nothing listens,
        # instead of waiting out a timeout.
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(0.25)
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

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after a grace period; the port is free on return."""
        proc, self._proc = self._proc, None
        stop_process(proc, signal.SIGTERM, STOP_GRACE)

    def restart(self) -> Self:
        """Stop and start again on the same port, with the current configuration."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and delete the temp dir."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        _live.discard(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


S = TypeVar("S", bound=Server)


class StartServer(Protocol):
    """The type of the start_server fixture: starts a server, closes it after the test."""

    def __call__(self, server: S, /) -> S: ...


class Authoritative(Server):
    """An authoritative server for {origin: zone_text}, one file per zone."""

    def __init__(self, zones: Mapping[str, str], port: int | None = None) -> None:
        super().__init__(port)
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
        self, zones: Mapping[str, str], port: int | None = None, refuse_zones: Sequence[str] = ()
    ) -> None:
        super().__init__(zones, port)
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
        self.config_path.write_text(f"""\
options {{
    directory "{self.dir}";
    listen-on port {self.port} {{ {self.address}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    pid-file "{self.dir}/named.pid";
    session-keyfile "{self.dir}/session.key";
    managed-keys-directory "{self.dir}";
    dnssec-validation no;
    notify no;
}};
controls {{ }};
{zones}""")

    def _command(self) -> list[str]:
        return [find_binary("named"), "-g", "-4", "-c", str(self.config_path)]

    def _is_ready(self) -> bool:
        # A refusing zone answers SERVFAIL until it is loaded, REFUSED after.
        return all(
            self._soa_rcode(origin)
            == (dns.rcode.REFUSED if origin in self.refuse_zones else dns.rcode.NOERROR)
            for origin in self.zones
        )


class Unbound(Server):
    """Unbound as an internal caching resolver, stubbed to local authoritative servers.

    `stub_zones` maps a zone to the servers asked for it; `refuse_zones` answer REFUSED
    from Unbound itself; `extra` lines go verbatim into the `server:` clause.
    """

    recursive = True

    def __init__(
        self,
        stub_zones: Mapping[str, Sequence[Endpoint]],
        port: int | None = None,
        *,
        refuse_zones: Sequence[str] = (),
        cache_min_ttl: int | None = None,
        cache_max_ttl: int | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        super().__init__(port)
        self.stub_zones = {z.rstrip("."): list(servers) for z, servers in stub_zones.items()}
        self.refuse_zones = [z.rstrip(".") for z in refuse_zones]
        self.cache_min_ttl = cache_min_ttl
        self.cache_max_ttl = cache_max_ttl
        self.extra = list(extra)
        self.control_port = free_port()

    @property
    def config_path(self) -> Path:
        return self.dir / "unbound.conf"

    def _server_lines(self) -> list[str]:
        lines = [
            'username: ""',
            'chroot: ""',
            'pidfile: ""',
            'logfile: ""',
            "use-syslog: no",
            f'directory: "{self.dir}"',
            "verbosity: 1",
            f"interface: {self.address}@{self.port}",
            f"outgoing-interface: {self.address}",
            "do-ip6: no",
            "access-control: 127.0.0.0/8 allow",
            # Without this Unbound will not ask servers on 127.0.0.0/8.
            "do-not-query-localhost: no",
            # No trust anchor: no validator.
            'module-config: "iterator"',
            f'root-hints: "{self.dir}/root.hints"',
            # One thread and one socket per port, so a second instance cannot share it.
            "num-threads: 1",
            "so-reuseport: no",
            # Cache behaviour tests can predict: nothing served past its TTL, nothing
            # refreshed early, one upstream query per client question.
            "serve-expired: no",
            "prefetch: no",
            "qname-minimisation: no",
            # Forget dead upstreams quickly and keep probing them, so a restarted
            # authoritative server is used again within seconds.
            "infra-host-ttl: 10",
            "infra-keep-probing: yes",
        ]
        if self.cache_min_ttl is not None:
            lines.append(f"cache-min-ttl: {self.cache_min_ttl}")
        if self.cache_max_ttl is not None:
            lines.append(f"cache-max-ttl: {self.cache_max_ttl}")
        for zone in self.stub_zones:
            lines.append(f'domain-insecure: "{zone}"')
            if zone not in self.refuse_zones:
                # Overrides built-in local zones (e.g. 127.in-addr.arpa) above a stub.
                lines.append(f'local-zone: "{zone}" transparent')
        lines += [f'local-zone: "{zone}" refuse' for zone in self.refuse_zones]
        return lines + self.extra

    def _write_config(self) -> None:
        # Root hints nobody answers: nothing outside the stubs is ever resolved.
        (self.dir / "root.hints").write_text(
            ". 3600000 NS fake-root.\nfake-root. 3600000 A 127.0.0.53\n"
        )
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
        self.config_path.write_text(text)
        check = subprocess.run(
            [find_binary("unbound-checkconf"), str(self.config_path)],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise ServerError(
                f"unbound-checkconf rejected {self.config_path}:\n"
                f"{check.stdout}{check.stderr}\n{text}"
            )

    def _command(self) -> list[str]:
        return [find_binary("unbound"), "-d", "-p", "-c", str(self.config_path)]

    def _is_ready(self) -> bool:
        # A built-in local zone: answers without any upstream being up.
        return self._soa_rcode("localhost.") == dns.rcode.NOERROR

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


HostileMode = Literal["garbage", "wrong_id", "truncated", "silent", "servfail"]
HOSTILE_MODES: tuple[HostileMode, ...] = ("garbage", "wrong_id", "truncated", "silent", "servfail")


class HostileResponder:
    """A fake DNS server that misbehaves on purpose, in a background thread.

    garbage: random bytes that never parse; wrong_id: a well-formed reply with another
    message ID; truncated: TC set, no answer, and no TCP listener so the TCP retry is
    refused; silent: never answers; servfail: a well-formed SERVFAIL.
    With `tcp=True` it also listens on TCP (except in truncated mode) and misbehaves
    the same way there. `mode` may be changed while running.
    """

    def __init__(
        self, mode: HostileMode = "garbage", *, tcp: bool = False, port: int | None = None
    ) -> None:
        if mode not in HOSTILE_MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {HOSTILE_MODES}")
        self.mode: HostileMode = mode
        self.tcp = tcp
        self.address = LOOPBACK
        self.port = port or free_port()
        self.queries = 0
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def reply(self, wire: bytes) -> bytes | None:
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
        if self.mode == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
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

    def start(self) -> Self:
        if self.running:
            return self
        self._stop.clear()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((self.address, self.port))
        self._serve(udp, self._udp_loop)
        if self.tcp and self.mode != "truncated":
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
            target=loop, args=(sock,), daemon=True, name=f"hostile-{self.mode}-{self.port}"
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
            answer = self.reply(wire)
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
                answer = self.reply(wire)
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


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


class TestRegion:
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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
