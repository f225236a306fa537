"""No single server, packet or file can blind the monitor: the second round of guards.

Each test reproduces what a hostile network or a careless operator did to an earlier
build, on loopback, and holds the guard to it.
"""

from __future__ import annotations

import socket
import threading
import time

import dns.message

from monitor.config import Server
from monitor.probing.plan import Query
from monitor.probing.probe import Prober, ProbeSettings
from monitor.states import Role
from tests.nameserver import TestNameserver, answer


def _flood_then_answer(sock: socket.socket, stop: threading.Event) -> None:
    """For each query: three seconds of junk datagrams at the asker's port, then the
    answer (the server's own address and port, as a spoofer on its path could)."""
    try:
        while not stop.is_set():
            wire, peer = sock.recvfrom(512)
            query = dns.message.from_wire(wire)
            began = time.monotonic()
            while time.monotonic() - began < 3 and not stop.is_set():
                for _ in range(200):
                    sock.sendto(b"\x00" * 11, peer)  # shorter than a header
            name = query.question[0].name
            sock.sendto(answer(query, f"{name} 300 IN A 127.0.0.2").to_wire(), peer)
    except OSError:
        return  # closed at the end of the test


def test_a_flood_of_junk_at_one_servers_port_leaves_the_others_on_time() -> None:
    """Before reads were bounded per turn, this round took 36.5 s and 21 of the healthy
    server's 200 names timed out; now it takes about 2 s and all are ok."""
    hostile = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hostile.bind(("127.0.0.1", 0))
    stop = threading.Event()
    for _ in range(2):
        threading.Thread(target=_flood_then_answer, args=(hostile, stop), daemon=True).start()
    try:
        with TestNameserver(lambda q: answer(q, f"{q.question[0].name} 300 IN A 127.0.0.1")) as ns:
            good = Server("good", "127.0.0.1", ns.port, Role.RECURSIVE)
            bad = Server("bad", "127.0.0.1", hostile.getsockname()[1], Role.RECURSIVE)
            queries = [Query(f"n{i}.region.internal", "A", server, True, None)
                       for i in range(200) for server in (good, bad)]  # fmt: skip
            began = time.monotonic()
            settings = ProbeSettings(timeout=1.0, attempts=2, max_qps_per_server=1000)
            results = Prober(settings).run(queries)
            took = time.monotonic() - began
    finally:
        stop.set()
        hostile.close()
    assert sum(r.ok for r in results if r.query.server.name == "good") == 200
    assert took < 10, took  # each query's own deadline, not the flood, sets the pace
