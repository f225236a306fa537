"""Resolvers' own traffic logs, for the tests of `dnsmon learn` (which client asked what).

Test clients ask from distinct loopback sources: on Linux all of 127.0.0.0/8 is local
(`local 127.0.0.0/8 dev lo` in the local routing table), so a UDP or TCP socket binds
to 127.90.0.7 without that address being added to lo, and the resolver sees it as the
client's address. (claim_address is only needed for a server that must *listen* on
port 53 of its own address, e.g. for glibc, or for BIND, which listens only on
interface addresses.)

    with learn_authority() as authority, DnstapCapture(tmp / "unbound.dnstap") as tap:
        resolver = Unbound(forwarding(authority), log_replies=True,
                           dnstap_socket=tap.socket_path).start()
        ask_questions(resolver)                  # QUESTIONS, from three client hosts
        resolver.close()                         # flushes its dnstap
        tap.stop()                               # the file gets its STOP frame
        messages = read_dnstap(tap.output)       # or dnstap_read_yaml(tap.output)

Here:
- the clients and QUESTIONS the samples in tests/data/learn/ were made with, the zones
  that answer them (learn_zones) and ask_questions;
- DnstapCapture: fstrm_capture (Debian fstrm-bin) listening on a unix socket or TCP
  port, writing what a resolver sends there to a Frame Streams file;
- read_frames/write_frames/cut_mid_frame: the Frame Streams file format, to make
  synthetic files (frames reordered, a file cut mid-frame) out of real captures;
- decode_dnstap/read_dnstap: a minimal dnstap protobuf decoder (tests only), and
  dnstap_read_yaml, which asks BIND's dnstap-read -y instead;
- rotate/read_rotated: logrotate-style rotation (name.log, name.log.1, name.log.2.gz);
- make_samples: how the files in tests/data/learn/ were made
  (`.venv/bin/python tests/traffic.py DIR` writes them again, with new timestamps).

Frame Streams, as fstrm_capture, Unbound, BIND and kresd speak it on a socket
(bidirectional): the resolver connects and sends a READY control frame naming the
content type "protobuf:dnstap.Dnstap"; the receiver answers ACCEPT with the same type;
the resolver sends START, then data frames (each a 4-byte big-endian length and one
dnstap protobuf), and STOP when it closes, which the receiver acknowledges with
FINISH. A control frame is escaped by a zero length: 00000000, its own length, then
its type and fields. A file (what fstrm_capture and BIND's dnstap-output file write)
is the unidirectional form: START (with the content type), data frames, STOP. A file
still being written has no STOP and may end mid-frame.
"""

from __future__ import annotations

import atexit
import gzip
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import yaml
from servers import (
    LOOPBACK,
    BindResolver,
    Endpoint,
    Knot,
    KnotResolver,
    Managed,
    PdnsRecursor,
    ServerError,
    Unbound,
    _port_free,
    ask,
    find_binary,
    free_port,
    stop_process,
)
from zones import (
    CROSS_ZONE_CNAME,
    DEFAULT_SERIAL,
    OTHER,
    REGION,
    REVERSE,
    other_zone,
    region_reverse_zone,
    region_zone,
)

DATA = Path(__file__).resolve().parent / "data" / "learn"

# The client machines of the samples: none of these addresses is added to lo.
SERVICE_HOST = "127.90.0.7"  # the EHR application server: a known service host
BACKUP_HOST = "127.90.1.7"  # the backup server of the read-only EHR copy
UNKNOWN_CLIENT = "127.91.0.1"  # a machine no configuration mentions
CLIENTS = {"service-host": SERVICE_HOST, "backup-host": BACKUP_HOST, "unknown": UNKNOWN_CLIENT}


@dataclass(frozen=True)
class Question:
    """One client question: who asks, what, over which transport, and the rcode the
    test zones give it."""

    source: str
    name: str
    rdtype: str = "A"
    tcp: bool = False
    rcode: str = "NOERROR"
    note: str = ""


QUESTIONS: tuple[Question, ...] = (
    Question(SERVICE_HOST, "ehr-db.region.internal", "A", note="resolves: 127.20.1.15"),
    Question(SERVICE_HOST, "ehr-db.region.internal", "AAAA", note="NODATA: no AAAA"),
    Question(SERVICE_HOST, "ehr-db.region.internal.region.internal", "A", rcode="NXDOMAIN",
             note="search-suffix expansion"),
    Question(SERVICE_HOST, "ehr-db.region.internal.region.internal", "AAAA", rcode="NXDOMAIN",
             note="search-suffix expansion"),
    Question(SERVICE_HOST, "_ldap._tcp.region.internal", "SRV", note="SRV to dc1"),
    Question(SERVICE_HOST, "ehr-app.region.internal", "A",
             note="CNAME app.other.internal. (another zone), A 127.30.1.10"),
    Question(BACKUP_HOST, "ehr-ro.region.internal", "A", note="resolves: 127.20.1.16"),
    Question(BACKUP_HOST, "ehr-db.region.internal", "A", tcp=True, note="over TCP"),
    Question(BACKUP_HOST, "16.1.20.127.in-addr.arpa", "PTR", note="reverse: ehr-ro"),
    Question(BACKUP_HOST, "www.region.internal", "A", note="CNAME ehr-db (same zone)"),
    Question(UNKNOWN_CLIENT, "billing.region.internal", "A", rcode="NXDOMAIN",
             note="nonexistent, real-looking"),
    Question(UNKNOWN_CLIENT, "v6host.region.internal", "AAAA", note="resolves: ::1"),
    Question(UNKNOWN_CLIENT, "15.1.20.127.in-addr.arpa", "PTR", note="reverse: ehr-db"),
    Question(UNKNOWN_CLIENT, "ehr-db.region.internal", "A", note="answered from cache"),
)  # fmt: skip


def learn_zones(serial: int = DEFAULT_SERIAL, ttl: int = 300) -> dict[str, str]:
    """region.internal (with ehr-app CNAME app.other.internal.), its reverse zone and
    other.internal: everything QUESTIONS asks."""
    return {
        REGION: region_zone(serial, ttl, CROSS_ZONE_CNAME),
        REVERSE: region_reverse_zone(serial, ttl),
        OTHER: other_zone(serial, ttl),
    }


def learn_authority(**kwargs: Any) -> Knot:
    """Knot serving learn_zones() (not started)."""
    return Knot(learn_zones(), **kwargs)


def forwarding(authority: Endpoint) -> dict[str, list[Endpoint]]:
    """{zone: [authority]} for every learn zone: Unbound's stub_zones, BindResolver's,
    PdnsRecursor's and KnotResolver's forward_zones."""
    return {zone: [authority] for zone in learn_zones()}


def ask_questions(
    resolver: Endpoint, questions: Iterable[Question] = QUESTIONS, *, timeout: float = 3.0
) -> list[dns.message.Message]:
    """Ask each question from its source; ServerError if an rcode is not the expected."""
    responses = []
    for question in questions:
        response = ask(
            resolver, question.name, question.rdtype, tcp=question.tcp,
            source=question.source, timeout=timeout,
        )  # fmt: skip
        if dns.rcode.to_text(response.rcode()) != question.rcode:
            raise ServerError(f"{question}: got {dns.rcode.to_text(response.rcode())}")
        responses.append(response)
    return responses


# ---------------------------------------------------------------- dnstap receiver

DNSTAP_CONTENT_TYPE = "protobuf:dnstap.Dnstap"
_live_captures: set[DnstapCapture] = set()


@atexit.register
def _close_captures() -> None:
    for capture in list(_live_captures):
        capture.close()


class DnstapCapture(Managed):
    """fstrm_capture receiving dnstap into `output`, on a unix socket of its own
    (`socket_path`, in a temp dir) or, with tcp=True, on 127.0.0.1:`port` (`endpoint`).

    Start it before the resolver: Unbound and kresd connect at start and retry only
    every few seconds; BIND too. It accepts several connections (one file for all).
    `flush()` (SIGHUP) writes out what it buffered, `reopen()` (SIGUSR1) starts a new
    `output` after the old one was moved away, `stop()` (SIGTERM) ends the file with
    its STOP frame, `close()` also removes the temp dir.
    """

    def __init__(self, output: str | os.PathLike[str], *, tcp: bool = False) -> None:
        self.output = Path(output).absolute()
        self.tcp = tcp
        self.dir = Path(tempfile.mkdtemp(prefix="dnsmon-test-fstrm-"))
        self.socket_path = self.dir / "dnstap.sock"
        self.address = LOOPBACK
        self.port = free_port() if tcp else 0
        self._proc: subprocess.Popen[bytes] | None = None
        _live_captures.add(self)

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.address, self.port

    @property
    def log_path(self) -> Path:
        return self.dir / "fstrm_capture.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _listening(self) -> bool:
        if self.tcp:
            return not _port_free(self.address, self.port)
        return self.socket_path.exists()

    def start(self) -> Self:
        if self.running:
            return self
        command = [find_binary("fstrm_capture"), "-t", DNSTAP_CONTENT_TYPE, "-w", str(self.output)]
        if self.tcp:
            command += ["-a", self.address, "-p", str(self.port)]
        else:
            self.socket_path.unlink(missing_ok=True)
            command += ["-u", str(self.socket_path)]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [*command, "-d"], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self._listening():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"fstrm_capture did not listen:\n{self.log()}")
            time.sleep(0.02)
        return self

    def _signal(self, signum: int) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signum)

    def flush(self) -> None:
        """SIGHUP: fstrm_capture writes out the frames it has buffered (asynchronously)."""
        self._signal(signal.SIGHUP)

    def reopen(self) -> None:
        """SIGUSR1: fstrm_capture closes `output` (with its STOP frame) and opens it anew."""
        self._signal(signal.SIGUSR1)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[DnstapMessage]:
        """Flush until `output` holds at least `count` dnstap messages; they."""
        deadline = time.monotonic() + timeout
        while True:
            self.flush()
            time.sleep(0.1)
            messages = read_dnstap(self.output) if self.output.exists() else []
            if len(messages) >= count:
                return messages
            if time.monotonic() > deadline:
                raise ServerError(f"{len(messages)} of {count} dnstap messages:\n{self.log()}")

    def stop(self) -> int | None:
        proc, self._proc = self._proc, None
        return stop_process(proc)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        _live_captures.discard(self)


# ---------------------------------------------------------------- Frame Streams

CONTROL_ACCEPT, CONTROL_START, CONTROL_STOP, CONTROL_READY, CONTROL_FINISH = 1, 2, 3, 4, 5
FIELD_CONTENT_TYPE = 1


@dataclass
class Frames:
    """A Frame Streams file taken apart: its content type (from START), data frames,
    whether it ended with STOP, and how many bytes of a cut-off frame follow."""

    content_type: str | None
    frames: list[bytes]
    stopped: bool
    trailing: int = 0


def read_frames(data: bytes) -> Frames:
    """Parse a Frame Streams file (tolerating a missing STOP and a cut final frame)."""
    content_type: str | None = None
    frames: list[bytes] = []
    stopped = False
    at = 0
    while at < len(data):
        if len(data) - at < 4:
            break
        (length,) = struct.unpack_from(">I", data, at)
        if length:
            if len(data) - at - 4 < length:
                break
            frames.append(data[at + 4 : at + 4 + length])
            at += 4 + length
            continue
        if len(data) - at < 8:
            break
        (control_length,) = struct.unpack_from(">I", data, at + 4)
        if len(data) - at - 8 < control_length:
            break
        control = data[at + 8 : at + 8 + control_length]
        at += 8 + control_length
        (kind,) = struct.unpack_from(">I", control, 0)
        if kind == CONTROL_STOP:
            stopped = True
        elif kind == CONTROL_START:
            fields = control[4:]
            while len(fields) >= 8:
                field, size = struct.unpack_from(">II", fields, 0)
                if field == FIELD_CONTENT_TYPE:
                    content_type = fields[8 : 8 + size].decode()
                fields = fields[8 + size :]
    return Frames(content_type, frames, stopped, len(data) - at)


def _control(kind: int, content_type: str | None = None) -> bytes:
    body = struct.pack(">I", kind)
    if content_type is not None:
        body += struct.pack(">II", FIELD_CONTENT_TYPE, len(content_type)) + content_type.encode()
    return struct.pack(">II", 0, len(body)) + body


def write_frames(
    frames: Iterable[bytes], content_type: str = DNSTAP_CONTENT_TYPE, *, stop: bool = True
) -> bytes:
    """A Frame Streams file: START, the frames, STOP unless stop=False."""
    data = _control(CONTROL_START, content_type)
    data += b"".join(struct.pack(">I", len(frame)) + frame for frame in frames)
    return data + (_control(CONTROL_STOP) if stop else b"")


def cut_mid_frame(data: bytes, frame: int) -> bytes:
    """The file's bytes up to the middle of data frame number `frame` (from 0): a file
    still being written, or one whose writer died."""
    parsed = read_frames(data)
    head = write_frames(parsed.frames[:frame], parsed.content_type or "", stop=False)
    cut = parsed.frames[frame]
    return head + struct.pack(">I", len(cut)) + cut[: len(cut) // 2]


# ---------------------------------------------------------------- dnstap

MESSAGE_TYPES = {
    1: "AUTH_QUERY", 2: "AUTH_RESPONSE", 3: "RESOLVER_QUERY", 4: "RESOLVER_RESPONSE",
    5: "CLIENT_QUERY", 6: "CLIENT_RESPONSE", 7: "FORWARDER_QUERY", 8: "FORWARDER_RESPONSE",
    9: "STUB_QUERY", 10: "STUB_RESPONSE", 11: "TOOL_QUERY", 12: "TOOL_RESPONSE",
    13: "UPDATE_QUERY", 14: "UPDATE_RESPONSE",
}  # fmt: skip
PROTOCOLS = {1: "UDP", 2: "TCP", 3: "DOT", 4: "DOH", 5: "DNSCryptUDP", 6: "DNSCryptTCP", 7: "DOQ"}


@dataclass
class DnstapMessage:
    """The fields of one dnstap Message that say who asked what (dnstap.proto)."""

    type: str
    identity: str
    version: str
    protocol: str
    query_address: str | None
    query_port: int | None
    response_address: str | None
    response_port: int | None
    time: float  # query_time for *_QUERY, response_time for *_RESPONSE
    query_message: bytes | None
    response_message: bytes | None

    @property
    def dns(self) -> dns.message.Message:
        """The DNS message carried (the response for *_RESPONSE)."""
        wire = self.response_message if self.type.endswith("RESPONSE") else self.query_message
        if wire is None:
            raise ValueError(f"{self.type} carries no message")
        return dns.message.from_wire(wire)

    @property
    def question(self) -> tuple[str, str]:
        """(qname without the final dot, qtype) of the carried message."""
        q = self.dns.question[0]
        return q.name.to_text(omit_final_dot=True), dns.rdatatype.to_text(q.rdtype)

    @property
    def rcode(self) -> str:
        return dns.rcode.to_text(self.dns.rcode())


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: varints and fixed as int."""
    at = 0

    def varint() -> int:
        nonlocal at
        value = shift = 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while at < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, varint()
        elif wire == 1:
            yield number, int.from_bytes(data[at : at + 8], "little")
            at += 8
        elif wire == 2:
            size = varint()
            yield number, data[at : at + size]
            at += size
        elif wire == 5:
            yield number, int.from_bytes(data[at : at + 4], "little")
            at += 4
        else:
            raise ValueError(f"protobuf wire type {wire} unsupported")


def decode_dnstap(frame: bytes) -> DnstapMessage:
    """One dnstap frame (a Dnstap protobuf of type MESSAGE)."""
    top: dict[int, Any] = dict(_fields(frame))
    fields: dict[int, Any] = dict(_fields(top.get(14, b"")))

    def address(raw: bytes | None) -> str | None:
        return None if raw is None else str(ipaddress.ip_address(raw))

    kind = MESSAGE_TYPES.get(fields.get(1, 0), str(fields.get(1)))
    if kind.endswith("RESPONSE"):
        when = fields.get(12, 0) + fields.get(13, 0) / 1e9
    else:
        when = fields.get(8, 0) + fields.get(9, 0) / 1e9
    return DnstapMessage(
        type=kind,
        identity=top.get(1, b"").decode(errors="replace"),
        version=top.get(2, b"").decode(errors="replace"),
        protocol=PROTOCOLS.get(fields.get(3, 0), str(fields.get(3))),
        query_address=address(fields.get(4)),
        query_port=fields.get(6),
        response_address=address(fields.get(5)),
        response_port=fields.get(7),
        time=when,
        query_message=fields.get(10),
        response_message=fields.get(14),
    )


def read_dnstap(path: str | os.PathLike[str]) -> list[DnstapMessage]:
    """Every complete dnstap message in a Frame Streams file, in file order."""
    return [decode_dnstap(frame) for frame in read_frames(Path(path).read_bytes()).frames]


def dnstap_read_yaml(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """BIND's `dnstap-read -y PATH`, one dict per dnstap message (its YAML)."""
    result = subprocess.run(
        [find_binary("dnstap-read"), "-y", str(path)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise ServerError(f"dnstap-read -y {path}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


# ---------------------------------------------------------------- rotation


def _rotated(path: Path, number: int) -> Path | None:
    for candidate in (Path(f"{path}.{number}"), Path(f"{path}.{number}.gz")):
        if candidate.exists():
            return candidate
    return None


def rotate(
    path: str | os.PathLike[str],
    *,
    keep: int = 3,
    compress: bool = True,
    delay_compress: bool = True,
    copytruncate: bool = False,
) -> list[Path]:
    """Rotate a log as logrotate does: name.log.N(.gz) becomes .N+1 (the one past
    `keep` is deleted), name.log becomes name.log.1; with `compress` every rotated
    file is gzipped, except .1 with `delay_compress` (so .1 stays plain, .2 on are .gz).

    With copytruncate the log is copied and then emptied in place (for a writer that
    never reopens, e.g. a daemon's stdout); otherwise it is moved and the writer must
    reopen (Unbound.reopen_log, BindResolver.reopen_logs, DnstapCapture.reopen).
    The rotated files, newest first."""
    path = Path(path)
    for number in range(keep, 0, -1):
        old = _rotated(path, number)
        if old is None:
            continue
        if number == keep:
            old.unlink()
            continue
        target = Path(f"{path}.{number + 1}")
        if old.suffix == ".gz":
            old.rename(Path(f"{target}.gz"))
        elif compress:
            with open(old, "rb") as plain, gzip.open(f"{target}.gz", "wb") as packed:
                shutil.copyfileobj(plain, packed)
            old.unlink()
        else:
            old.rename(target)
    first = Path(f"{path}.1")
    if copytruncate:
        shutil.copyfile(path, first)
        with open(path, "r+b") as log:
            log.truncate(0)
    else:
        path.rename(first)
    if compress and not delay_compress:
        with open(first, "rb") as plain, gzip.open(f"{first}.gz", "wb") as packed:
            shutil.copyfileobj(plain, packed)
        first.unlink()
    return [p for n in range(1, keep + 1) if (p := _rotated(path, n)) is not None]


def read_rotated(path: str | os.PathLike[str], keep: int = 10) -> bytes:
    """The rotated files (oldest first, gunzipped) and the current one, concatenated."""
    path = Path(path)
    data = b""
    for number in range(keep, 0, -1):
        old = _rotated(path, number)
        if old is not None:
            data += gzip.decompress(old.read_bytes()) if old.suffix == ".gz" else old.read_bytes()
    if path.exists():
        data += path.read_bytes()
    return data


# ---------------------------------------------------------------- text log lines

# One regex per text format, as observed (see tests/data/learn/README.md).
UNBOUND_REPLY = re.compile(
    r"^(?:\[(?P<epoch>\d+)\]|(?P<ascii>\w{3} \d\d \d\d:\d\d:\d\d)) unbound\[\d+:\d+\] "
    r"(?:reply|info): (?P<client>\S+) (?P<qname>\S+) (?P<qtype>\S+) (?P<qclass>\S+) "
    r"(?P<rcode>[A-Z]+) (?P<seconds>[\d.]+) (?P<cached>[01]) (?P<size>\d+)$"
)
UNBOUND_QUERY = re.compile(
    r"^(?:\[(?P<epoch>\d+)\]|(?P<ascii>\w{3} \d\d \d\d:\d\d:\d\d)) unbound\[\d+:\d+\] "
    r"(?:query|info): (?P<client>\S+) (?P<qname>\S+) (?P<qtype>\S+) (?P<qclass>\S+)$"
)
BIND_QUERY = re.compile(
    r"^(?P<time>\S+(?: \S+)?) (?:queries: info: )?client @0x[0-9a-f]+ "
    r"(?P<client>[0-9a-f.:]+)#(?P<port>\d+) \((?P<qname_paren>[^)]*)\): "
    r"query: (?P<qname>\S+) (?P<qclass>\S+) (?P<qtype>\S+) (?P<flags>\S+) \((?P<server>[^)]+)\)$"
)
PDNS_QUESTION = re.compile(r'msg="(?:Question|Question answered from packet cache)"')
PDNS_LEGACY_QUESTION = re.compile(
    r"^(?:\w{3} \d\d \d\d:\d\d:\d\d )?\d+ \[\d+/\d+\] (?P<tcp>TCP )?question for "
    r"'(?P<qname>[^|]*)\|(?P<qtype>[^']*)' from (?P<client>[0-9a-f.:\[\]]+):(?P<port>\d+)$"
)


def pdns_fields(line: str) -> dict[str, str]:
    """The key="value" pairs of one structured-logging line of pdns_recursor."""
    return dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line))


# ---------------------------------------------------------------- the samples


def _drop_harness_header(path: Path, dest: Path) -> None:
    """Copy a server log without the "--- command" line servers.py writes first."""
    lines = path.read_text().splitlines(keepends=True)
    dest.write_text("".join(line for line in lines if not line.startswith("--- ")))


def make_samples(dest: str | os.PathLike[str]) -> dict[str, Path]:
    """Run every resolver here with its traffic logs on, ask QUESTIONS of each, and
    keep the logs in `dest`: what tests/data/learn/ holds (the Zeek ones excepted).
    Loopback only, no root needed; about 10 s."""
    dest = Path(dest).absolute()
    dest.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {}
    with learn_authority() as authority:
        zones = forwarding(authority)

        # Unbound: reply lines only (the plain "info:" form), dnstap to a unix socket.
        with DnstapCapture(dest / "unbound-client.dnstap") as tap:
            with Unbound(zones, log_replies=True, dnstap_socket=tap.socket_path) as unbound:
                ask_questions(unbound)
                tap.wait_for(2 * len(QUESTIONS))  # Unbound drops what it has not sent
                shutil.copyfile(unbound.query_log_path, dest / "unbound-replies.log")
            tap.stop()
        made["unbound-client.dnstap"] = tap.output
        made["unbound-replies.log"] = dest / "unbound-replies.log"

        # Unbound: query and reply lines, tagged, ASCII timestamps.
        with Unbound(
            zones, log_queries=True, log_replies=True, log_tag_queryreply=True,
            log_time_ascii=True,
        ) as unbound:  # fmt: skip
            ask_questions(unbound)
            shutil.copyfile(unbound.query_log_path, dest / "unbound-queryreply.log")
        made["unbound-queryreply.log"] = dest / "unbound-queryreply.log"

        # Unbound, rotated twice while it runs: three rounds of questions in three files.
        rotated = dest / "rotated"
        shutil.rmtree(rotated, ignore_errors=True)
        rotated.mkdir()
        with Unbound(zones, log_replies=True, log_tag_queryreply=True) as unbound:
            for round_ in range(3):
                if round_:
                    rotate(unbound.query_log_path)
                    unbound.reopen_log()
                ask_questions(unbound, [q for q in QUESTIONS if q.source == SERVICE_HOST])
            for log in unbound.dir.glob("unbound.log*"):
                shutil.copyfile(log, rotated / log.name)
        made["rotated"] = rotated

        # BIND: querylog (print-time yes) and dnstap to a file; a copy of the dnstap
        # file taken while named still runs (no STOP frame).
        bind_tap = dest / "bind-client.dnstap"
        bind_tap.unlink(missing_ok=True)
        with BindResolver(zones, querylog=True, dnstap_file=bind_tap) as bind:
            ask_questions(bind)
            time.sleep(2.5)  # fstrm-set-flush-timeout 1
            shutil.copyfile(bind_tap, dest / "bind-client-live.dnstap")
            bind.stop()
            shutil.copyfile(bind.query_log_path, dest / "bind-query.log")
        made["bind-client.dnstap"] = bind_tap
        made["bind-client-live.dnstap"] = dest / "bind-client-live.dnstap"
        made["bind-query.log"] = dest / "bind-query.log"

        # BIND: querylog with ISO 8601 UTC times, category and severity.
        with BindResolver(
            zones, querylog=True, querylog_time="iso8601-utc", querylog_category=True
        ) as bind:
            ask_questions(bind)
            bind.stop()
            shutil.copyfile(bind.query_log_path, dest / "bind-query-iso8601.log")
        made["bind-query-iso8601.log"] = dest / "bind-query-iso8601.log"

        # PowerDNS Recursor, structured and old-style logging.
        for name, structured in (("pdns-recursor.log", True), ("pdns-recursor-legacy.log", False)):
            with PdnsRecursor(zones, structured_logging=structured) as pdns:
                ask_questions(pdns)
                time.sleep(0.3)
                pdns.stop()
                _drop_harness_header(pdns.log_path, dest / name)
            made[name] = dest / name

        # Knot Resolver: dnstap to a unix socket.
        with DnstapCapture(dest / "kresd-client.dnstap") as tap:
            with KnotResolver(zones, dnstap_socket=tap.socket_path) as kresd:
                ask_questions(kresd)
                tap.wait_for(2 * len(QUESTIONS))
            tap.stop()
        made["kresd-client.dnstap"] = tap.output

    # Synthetic files from the real captures: frames out of time order (each
    # response before its query, the pairs in reverse), and a file cut mid-frame.
    unbound_frames = read_frames((dest / "unbound-client.dnstap").read_bytes())
    reordered = [frame for pair in zip(unbound_frames.frames[0::2], unbound_frames.frames[1::2],
                                       strict=True) for frame in reversed(pair)][::-1]  # fmt: skip
    (dest / "unbound-client-reordered.dnstap").write_bytes(write_frames(reordered))
    made["unbound-client-reordered.dnstap"] = dest / "unbound-client-reordered.dnstap"
    cut = cut_mid_frame((dest / "unbound-client.dnstap").read_bytes(), 17)
    (dest / "unbound-client-cut.dnstap").write_bytes(cut)
    made["unbound-client-cut.dnstap"] = dest / "unbound-client-cut.dnstap"

    # Zeek's dns.log, hand-made (Zeek is not packaged in Debian) from the Unbound capture.
    made.update(write_zeek_samples(dest / "unbound-client.dnstap", dest))
    # Windows DNS Server's debug log, hand-made too (no Windows here).
    made.update(write_windows_sample(dest / "unbound-client.dnstap", dest))
    return made


# ---------------------------------------------------------------- Zeek dns.log, by hand

ZEEK_RESOLVER = "127.80.0.53"  # the resolver as a sensor on the wire would see it: port 53
ZEEK_FIELDS = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass "
    "qclass_name qtype qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected"
).split()
ZEEK_TYPES = (
    "time string addr port addr port enum count interval string count string count "
    "string count string bool bool bool bool count vector[string] vector[interval] bool"
).split()
_ZEEK_UID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _zeek_uid(*parts: object) -> str:
    number = int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:12], "big")
    text = ""
    while number:
        number, digit = divmod(number, 62)
        text += _ZEEK_UID_ALPHABET[digit]
    return "C" + text[:17]


def zeek_records(messages: Sequence[DnstapMessage]) -> list[dict[str, Any]]:
    """dns.log records, as Zeek's base/protocols/dns/main.zeek fills DNS::Info, for
    each client query/response pair of a dnstap capture (sensor's view: the resolver
    at ZEEK_RESOLVER:53). Written when the response is seen, so in response order;
    ts is the query's time. Unset fields are absent."""
    queries = {}
    records = []
    for message in messages:
        key = (message.query_address, message.query_port, message.protocol)
        if message.type == "CLIENT_QUERY":
            queries[key] = message
            continue
        if message.type != "CLIENT_RESPONSE" or key not in queries:
            continue
        query = queries.pop(key)
        request, response = query.dns, message.dns
        question = request.question[0]
        record: dict[str, Any] = {
            "ts": query.time,
            "uid": _zeek_uid(key, query.time),
            "id.orig_h": query.query_address,
            "id.orig_p": query.query_port,
            "id.resp_h": ZEEK_RESOLVER,
            "id.resp_p": 53,
            "proto": query.protocol.lower(),
            "trans_id": request.id,
        }
        rtt = message.time - query.time
        if rtt > 0:
            record["rtt"] = rtt
        record |= {
            "query": question.name.to_text(omit_final_dot=True),
            "qclass": int(question.rdclass),
            "qclass_name": "C_INTERNET",
            "qtype": int(question.rdtype),
            "qtype_name": dns.rdatatype.to_text(question.rdtype),
            "rcode": response.rcode(),
            "rcode_name": dns.rcode.to_text(response.rcode()),
            "AA": bool(response.flags & dns.flags.AA),
            "TC": bool(request.flags & dns.flags.TC),
            "RD": bool(request.flags & dns.flags.RD),
            "RA": bool(response.flags & dns.flags.RA),
            "Z": (request.flags >> 4) & 0x7,
        }
        answers, ttls = [], []
        for rrset in response.answer:
            for rdata in rrset:
                if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                    answers.append(rdata.address)
                elif rrset.rdtype == dns.rdatatype.SRV:
                    answers.append(rdata.target.to_text(omit_final_dot=True))
                elif rrset.rdtype == dns.rdatatype.SOA:
                    answers.append(rdata.mname.to_text(omit_final_dot=True))
                else:  # CNAME, PTR, NS, MX: the name
                    answers.append(rdata.to_text().split()[-1].rstrip("."))
                ttls.append(float(rrset.ttl))
        if answers:
            record["answers"], record["TTLs"] = answers, ttls
        record["rejected"] = bool(response.rcode() and not response.question)
        records.append(record)
    return records


def _zeek_tsv_value(value: Any) -> str:
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, list):
        return ",".join(_zeek_tsv_value(item) for item in value) if value else "(empty)"
    return str(value)


def zeek_tsv(records: Sequence[Mapping[str, Any]], opened: float, closed: float) -> str:
    """A dns.log in Zeek's default TSV form (log-formats in Zeek's documentation)."""
    stamp = "%Y-%m-%d-%H-%M-%S"
    lines = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tdns",
        f"#open\t{time.strftime(stamp, time.gmtime(opened))}",
        "#fields\t" + "\t".join(ZEEK_FIELDS),
        "#types\t" + "\t".join(ZEEK_TYPES),
    ]
    for record in records:
        lines.append("\t".join(_zeek_tsv_value(record[f]) if f in record else "-"
                               for f in ZEEK_FIELDS))  # fmt: skip
    lines.append(f"#close\t{time.strftime(stamp, time.gmtime(closed))}")
    return "\n".join(lines) + "\n"


def zeek_json(records: Sequence[Mapping[str, Any]]) -> str:
    """A dns.log as Zeek writes it with LogAscii::use_json=T: one object a line."""
    return "".join(json.dumps(dict(r), separators=(",", ":")) + "\n" for r in records)


def write_zeek_samples(dnstap: Path, dest: Path) -> dict[str, Path]:
    """zeek-dns.log (TSV) and zeek-dns.json (JSON lines) from a dnstap capture."""
    records = zeek_records(read_dnstap(dnstap))
    opened, closed = records[0]["ts"], records[-1]["ts"] + 1
    (dest / "zeek-dns.log").write_text(zeek_tsv(records, opened, closed))
    (dest / "zeek-dns.json").write_text(zeek_json(records))
    return {"zeek-dns.log": dest / "zeek-dns.log", "zeek-dns.json": dest / "zeek-dns.json"}


# ------------------------------------------------- Windows DNS Server's debug log, by hand

WINDOWS_FORWARDER = "127.80.0.1"  # where the sample's server forwards its own queries
WINDOWS_LEGEND = """\
Message logging key (for packets - other items use a subset of these fields):
\tField #  Information         Values
\t-------  -----------         ------
\t   1     Date
\t   2     Time
\t   3     Thread ID
\t   4     Context
\t   5     Internal packet identifier
\t   6     UDP/TCP indicator
\t   7     Send/Receive indicator
\t   8     Remote IP
\t   9     Xid (hex)
\t  10     Query/Response      R = Response
\t                             blank = Query
\t  11     Opcode              Q = Standard Query
\t                             N = Notify
\t                             U = Update
\t                             ? = Unknown
\t  12     [ Flags (hex)
\t  13     Flags (char codes)  A = Authoritative Answer
\t                             T = Truncated Response
\t                             D = Recursion Desired
\t                             R = Recursion Available
\t  14     ResponseCode ]
\t  15     Question Type
\t  16     Question Name
"""


def _windows_time(at: float) -> str:
    """``12/6/2026 3:10:14 PM``: en-US short date and long time, local."""
    moment = time.localtime(at)
    hour = moment.tm_hour % 12 or 12
    half = "PM" if moment.tm_hour >= 12 else "AM"
    return (f"{moment.tm_mon}/{moment.tm_mday}/{moment.tm_year} "
            f"{hour}:{moment.tm_min:02}:{moment.tm_sec:02} {half}")  # fmt: skip


def windows_packet(
    at: float,
    remote: str,
    xid: int,
    response: bool,
    sent: bool,
    flags: int,
    rcode: str,
    qtype: str,
    qname: str,
    proto: str = "UDP",
) -> str:
    """One PACKET line of the debug log, its columns as the legend and published lines
    have them: the header's flags word (rcode included) printed with its two bytes
    swapped (RD alone is ``0001``, a recursive NOERROR answer ``8081``); the name in
    Windows' (length)label form."""
    chars = "".join(c for bit, c in ((0x0400, "A"), (0x0200, "T"), (0x0100, "D"), (0x0080, "R"))
                    if flags & bit)  # fmt: skip
    labels = "".join(f"({len(label)}){label}" for label in qname.split(".") if label) + "(0)"
    return (f"{_windows_time(at)} 0E70 PACKET  00000000033397A0 {proto} "
            f"{'Snd' if sent else 'Rcv'} {remote:<15} {xid:04x} {'R' if response else ' '} Q "
            f"[{(flags & 0xFF) << 8 | flags >> 8:04x}   {chars:<4}{rcode}] "
            f"{qtype:<6} {labels}")  # fmt: skip


def windows_debug_log(records: Sequence[Mapping[str, Any]]) -> str:
    """dns.log as Windows DNS Server writes it with packet logging on (queries, both
    directions, UDP and TCP), for the exchanges of Zeek-like records; the first one
    also shows the server's own query to its forwarder. CRLF line ends."""
    opened = _windows_time(records[0]["ts"] - 1)
    lines = [f"DNS Server log file creation at {opened}", f"Log file wrap at {opened}", "",
             *WINDOWS_LEGEND.splitlines(), ""]  # fmt: skip
    for i, r in enumerate(records):
        ask = dict(xid=r["trans_id"], qtype=r["qtype_name"], qname=r["query"],
                   proto=r["proto"].upper())  # fmt: skip
        client_flags = 0x0100 if r["RD"] else 0
        lines.append(windows_packet(r["ts"], r["id.orig_h"], response=False, sent=False,
                                    flags=client_flags, rcode="NOERROR", **ask))  # fmt: skip
        if i == 0:  # a miss: the server asks its forwarder, and is answered
            forward = dict(ask, xid=0x1A2B, proto="UDP")
            lines.append(windows_packet(r["ts"], WINDOWS_FORWARDER, response=False, sent=True,
                                        flags=0x0100, rcode="NOERROR", **forward))  # fmt: skip
            lines.append(windows_packet(r["ts"], WINDOWS_FORWARDER, response=True, sent=False,
                                        flags=0x8180 | r["rcode"], rcode=r["rcode_name"],
                                        **forward))  # fmt: skip
        answered = 0x8000 | client_flags | (0x0080 if r["RA"] else 0) | r["rcode"]
        lines.append(windows_packet(r["ts"] + r.get("rtt", 0.0), r["id.orig_h"], response=True,
                                    sent=True, flags=answered, rcode=r["rcode_name"],
                                    **ask))  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


def write_windows_sample(dnstap: Path, dest: Path) -> dict[str, Path]:
    """windows-dns-debug.log from a dnstap capture."""
    path = dest / "windows-dns-debug.log"
    path.write_bytes(windows_debug_log(zeek_records(read_dnstap(dnstap))).encode("ascii"))
    return {"windows-dns-debug.log": path}


def _main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} DIR   (writes the samples of tests/data/learn/ there)")
        return 2
    for name, path in make_samples(argv[1]).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv))
