"""``serve`` learning live: dnstap senders connect to its unix and TCP sockets with the
Frame Streams handshake, what they send becomes metrics and findings, and what was
learned outlives a restart."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml
from dnstapfiles import response
from exporter import Exporter, wait_until
from servers import free_port

from monitor.learning.readers.framestreams import (
    ACCEPT,
    CONTENT_TYPE,
    FINISH,
    READY,
    START,
    STOP,
    Control,
    Decoder,
    control,
)

SERVICE, PAPER, STRANGER = "10.30.1.5", "10.32.0.9", "10.99.0.1"


def config(tmp_path: Path, tcp_port: int) -> Path:
    document = {
        "defaults": {"interval": "1s", "timeout": "100ms", "attempts": 1},
        "servers": [{"name": "resolver-a", "address": "127.0.0.1", "port": free_port()}],
        "names": [{"name": "ehr-db.region.internal"}],
        "services": [{"name": "ehr", "hosts": ["10.30.1.0/28"],
                      "depends_on": ["ehr-db.region.internal"],
                      "backups": [{"name": "paper", "hosts": ["10.32.0.9"], "depends_on": []}]}],
        "learning": {"dnstap": [f"unix:{tmp_path / 'tap.sock'}", f"127.0.0.1:{tcp_port}"],
                     "state": str(tmp_path / "learned.json")},
    }  # fmt: skip
    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def connect(where: str) -> socket.socket:
    if where.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(where[len("unix:") :])
    else:
        host, _, port = where.rpartition(":")
        sock = socket.create_connection((host, int(port)))
    sock.settimeout(5)
    return sock


def answer(sock: socket.socket) -> Control:
    decoder = Decoder()
    while True:
        decoder.feed(sock.recv(4096))
        for frame in decoder.frames():
            assert isinstance(frame, Control)
            return frame


def send(where: str, *frames: bytes) -> None:
    """As BIND and Unbound send: READY, (ACCEPT), START, the frames, STOP, (FINISH)."""
    with connect(where) as sock:
        sock.sendall(control(READY, CONTENT_TYPE))
        accepted = answer(sock)
        assert (accepted.type, accepted.content_types) == (ACCEPT, (CONTENT_TYPE,))
        sock.sendall(control(START, CONTENT_TYPE) + b"".join(frames) + control(STOP))
        assert answer(sock).type == FINISH


@pytest.fixture
def exporter(tmp_path: Path):
    port = free_port()
    with Exporter(config(tmp_path, port), tmp_path) as running:
        running.tcp = f"127.0.0.1:{port}"  # type: ignore[attr-defined]
        yield running


def test_dnstap_over_both_sockets_becomes_metrics_and_findings(
    exporter: Exporter, tmp_path: Path
) -> None:
    unix = f"unix:{tmp_path / 'tap.sock'}"
    send(unix, response(SERVICE, "ehr-db.region.internal"), response(STRANGER, "x.internal"),
         response(SERVICE, "lab-api.region.internal"))  # fmt: skip
    send(exporter.tcp, response(PAPER, "print.region.internal"))  # type: ignore[attr-defined]
    metrics = exporter.wait_for_metric(
        "dnsmon_learned_dns_free_backup_queries_total", 1, service="ehr", backup="paper"
    )
    assert metrics.value("dnsmon_learned_messages_total", source=unix, result="kept") == 2
    assert metrics.value("dnsmon_learned_messages_total", source=unix, result="foreign") == 1
    # unmapped findings only: paper's is the headline kind, counted by the queries above
    assert metrics.value("dnsmon_learned_unmapped_names", service="ehr", backup="paper") == 0
    assert metrics.value("dnsmon_learned_unmapped_names", service="ehr", backup="") == 1
    status = json.loads(exporter.get("/api/status").body)
    [headline] = [f for f in status["learned"]["findings"]
                  if f["kind"] == "dns_free_backup_resolves"]  # fmt: skip
    assert headline["name"] == "print.region.internal"
    log = exporter.log()
    assert SERVICE not in log and PAPER not in log and STRANGER not in log  # no client address


def test_what_was_learned_outlives_a_restart(tmp_path: Path) -> None:
    port = free_port()
    path = config(tmp_path, port)
    with Exporter(path, tmp_path) as first:
        send(f"127.0.0.1:{port}", response(PAPER, "print.region.internal"))
        first.wait_for_metric(
            "dnsmon_learned_dns_free_backup_queries_total", 1, service="ehr", backup="paper"
        )
    state = (tmp_path / "learned.json").read_text()
    assert "print.region.internal" in state and PAPER not in state
    with Exporter(path, tmp_path) as second:
        second.wait_for_metric(
            "dnsmon_learned_dns_free_backup_queries_total", 1, service="ehr", backup="paper"
        )


def test_a_sender_of_something_else_is_closed_and_counted(exporter: Exporter) -> None:
    where = exporter.tcp  # type: ignore[attr-defined]
    with connect(where) as sock:
        sock.sendall(control(READY, b"protobuf:something.Else"))
        assert sock.recv(100) == b""  # closed
    with connect(where) as sock:
        sock.sendall(b"\x7f\xff\xff\xff" + b"x" * 100)  # a 2 GB "frame"
        assert sock.recv(100) == b""
    exporter.wait_for_metric("dnsmon_learned_messages_total", 2, source=where, result="malformed")
    send(where, response(SERVICE, "ehr-db.region.internal"))  # still serving
    exporter.wait_for_metric("dnsmon_learned_messages_total", 1, source=where, result="kept")
    assert wait_until(lambda: exporter.get("/-/healthy").status == 200, "healthy", 5)
