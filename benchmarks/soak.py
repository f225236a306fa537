"""A soak of ``dnsmon serve``: 5,000 names × 4 servers for 30 minutes, a line a minute.

    .venv/bin/python benchmarks/soak.py                 # 30 minutes
    .venv/bin/python benchmarks/soak.py --minutes 5     # shorter
    .venv/bin/python benchmarks/soak.py --junk-pps 1000 # with a flood of junk (root)

Not a test: it prints, every minute, the rounds run, resident memory, CPU, /metrics
latency (scraped every 15 s with gzip, as Prometheus does) and overruns, so a leak or a
creeping round time shows as a trend. Two Knot and two Unbound servers run on loopback
high ports; nothing leaves 127.0.0.0/8.

``--junk-pps`` floods dnsmon's query sockets with junk datagrams that claim to come from
its servers (a raw socket; root only): each second it reads from /proc which sockets the
``serve`` process has open to which server, and sends that many 11-byte datagrams spread
over them, as an attacker on the path (or a broken middlebox) could.
"""

from __future__ import annotations

import argparse
import gzip
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import yaml  # noqa: E402

from benchmarks.workloads import (  # noqa: E402
    _rss_mib,
    _scrape_config,
    _wait_ready,
    big_zone,
    exporter_counters,
)

SCRAPE_EVERY = 15.0
REPORT_EVERY = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--names", type=int, default=5000)
    parser.add_argument("--interval", default="10s", help="probes.yaml interval")
    parser.add_argument("--junk-pps", type=int, default=0, help="junk datagrams a second")
    args = parser.parse_args()
    from tests.servers import Knot, Unbound, free_port

    labels = [f"host{i:05d}.bench.internal" for i in range(args.names)]
    zone = {"bench.internal": big_zone(labels)}
    with Knot(zone) as ns1, Knot(zone) as ns2:
        stubs = {"bench.internal": [ns1, ns2]}
        with Unbound(stubs) as ra, Unbound(stubs) as rb, tempfile.TemporaryDirectory() as tmp:
            config = _scrape_config(labels, {"resolver-a": ra, "resolver-b": rb},
                                    {"ns1": ns1, "ns2": ns2})  # fmt: skip
            config["defaults"]["interval"] = args.interval
            config["defaults"]["max_qps_per_server"] = 2000
            path = Path(tmp) / "probes.yaml"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            soak(path, free_port(), args.minutes * 60, args.junk_pps)


def soak(config: Path, port: int, seconds: float, junk_pps: int = 0) -> None:
    command = [sys.executable, "-c", "from monitor.cli import main; main()", "--config",
               str(config), "serve", "--listen", f"127.0.0.1:{port}",
               "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    try:
        _wait_ready(base, process)
        if junk_pps:
            threading.Thread(target=_flood, args=(process.pid, junk_pps, stop),
                             daemon=True).start()  # fmt: skip
        print("minute  rounds  RSS MiB  CPU %  scrape p95 ms  overruns", flush=True)
        started = last_report = time.monotonic()
        last_cpu, latencies = _counters(base)["process_cpu_seconds_total"], []
        while time.monotonic() - started < seconds:
            latencies.append(_scrape_ms(base))
            time.sleep(SCRAPE_EVERY)
            if time.monotonic() - last_report >= REPORT_EVERY:
                counters = _counters(base)
                cpu = counters["process_cpu_seconds_total"]
                share = 100 * (cpu - last_cpu) / (time.monotonic() - last_report)
                p95 = (
                    max(latencies)
                    if len(latencies) < 20
                    else statistics.quantiles(latencies, n=20)[18]
                )
                minute = (time.monotonic() - started) / 60
                print(f"{minute:6.0f}  {counters['dnsmon_rounds_total']:6.0f}"
                      f"  {_rss_mib(process.pid, 'VmRSS:'):7.0f}  {share:5.1f}  {p95:13.1f}"
                      f"  {counters['dnsmon_round_overruns_total']:8.0f}", flush=True)  # fmt: skip
                last_report, last_cpu, latencies = time.monotonic(), cpu, []
        print(f"peak RSS {_rss_mib(process.pid, 'VmHWM:'):.0f} MiB", flush=True)
    finally:
        stop.set()
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def _udp_peers(pid: int) -> list[tuple[int, int]]:
    """(its local port, the server's port) of each UDP socket ``pid`` has connected to
    127.0.0.1, read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    peers = []
    for line in Path(f"/proc/{pid}/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if inode in inodes and remote.startswith("0100007F:"):
            peers.append((int(local.split(":")[1], 16), int(remote.split(":")[1], 16)))
    return peers


def _flood(pid: int, pps: int, stop: threading.Event) -> None:
    """Junk from each server's address and port to dnsmon's socket for it, ``pps`` a
    second in all, until ``stop``; UDP checksum 0 (none), as IPv4 allows."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    junk = b"\x00" * 11
    while not stop.is_set():
        began = time.monotonic()
        peers = _udp_peers(pid)
        for i in range(pps if peers else 0):
            local, remote = peers[i % len(peers)]
            header = struct.pack("!HHHH", remote, local, 8 + len(junk), 0)
            raw.sendto(header + junk, ("127.0.0.1", 0))
        stop.wait(max(0.0, 1.0 - (time.monotonic() - began)))
    raw.close()


def _scrape_ms(base: str) -> float:
    """One scrape's time to the last byte; the 10 MB decompression after it is the
    client's (it takes longer than the scrape) and is not counted."""
    request = urllib.request.Request(base + "/metrics", headers={"Accept-Encoding": "gzip"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    gzip.decompress(body)  # a whole, valid stream
    return elapsed


def _counters(base: str) -> dict[str, float]:
    wanted = ("process_cpu_seconds_total", "dnsmon_rounds_total", "dnsmon_round_overruns_total")
    return exporter_counters(base, wanted)


if __name__ == "__main__":
    main()
