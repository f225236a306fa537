"""Generated zones and configs for the benchmarks, and the baselines they are measured against."""

from __future__ import annotations

import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import yaml

from monitor.config import Server
from monitor.probing.plan import Query
from monitor.states import Role

SOA = (
    "@ 300 IN SOA ns1 hostmaster 2026112601 3600 600 86400 60\n"
    "@ 300 IN NS ns1\nns1 300 IN A 127.0.0.1\n"
)


def big_zone(names: list[str]) -> str:
    """A zone with one A record (in 127.30.0.0/16) per name."""
    lines = [SOA]
    for i, name in enumerate(names):
        label = name.split(".", 1)[0]
        lines.append(f"{label} 300 IN A 127.30.{i // 250}.{i % 250 + 1}\n")
    return "".join(lines)


def probe_queries(names: list[str], resolvers: list[tuple[str, Any]], auth: Any) -> list[Query]:
    """Every name asked of every resolver and, recursion off, of the authoritative server."""
    servers = [Server(n, s.address, s.port, Role.RECURSIVE) for n, s in resolvers]
    servers.append(Server("ns1", auth.address, auth.port, Role.AUTHORITATIVE, ("bench.internal",)))
    return [Query(name, "A", s, s.role is Role.RECURSIVE) for name in names for s in servers]


def plain_dnspython_loop(queries: list[Query]) -> int:
    """The baseline: one query at a time with dns.query.udp, as a simple script would."""
    ok = 0
    for q in queries:
        message = dns.message.make_query(q.name, q.type, use_edns=0, payload=1232)
        if not q.recursion:
            message.flags &= ~dns.flags.RD
        reply = dns.query.udp(message, q.server.address, timeout=2.0, port=q.server.port)
        ok += reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)
    return ok


def _address(i: int) -> str:
    return f"127.31.{i // 250 % 250}.{i % 250 + 1}"


def big_config(services: int, names: int, servers: int) -> str:
    """A valid probes.yaml with the given counts, half resolvers, half authoritatives."""
    zones = [f"zone{z}.internal" for z in range(4)]
    half = servers // 2
    server_list: list[dict[str, Any]] = [
        {"name": f"resolver-{i}", "address": "127.0.0.1", "port": 20000 + i} for i in range(half)
    ]
    server_list += [
        {"name": f"ns{i + 1}", "address": "127.0.0.1", "port": 21000 + i,
         "role": "authoritative", "zones": zones}
        for i in range(servers - half)
    ]  # fmt: skip
    name_list = [
        {"name": f"h{i}.{zones[i % 4]}", "type": "A", "expect": [_address(i)]} for i in range(names)
    ]
    service_list = []
    for s in range(services):
        deps = [name_list[(s * 3 + k) % names]["name"] for k in range(3)]
        if s % 10:
            deps.append(f"service:svc{s - 1}")
        backup_dep = name_list[(s * 7 + 1) % names]["name"]
        service_list.append({
            "name": f"svc{s}", "criticality": ["critical", "high", "normal"][s % 3],
            "description": f"service {s}", "depends_on": deps,
            "backups": [{"name": "manual", "instructions": "by hand", "depends_on": [backup_dep]}],
        })  # fmt: skip
    document = {"version": 1, "site": "bench", "servers": server_list, "names": name_list,
                "services": service_list}  # fmt: skip
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(document, Dumper=dumper, sort_keys=False)


def scrape_benchmark(names: int = 5000, seconds: float = 40.0) -> None:
    """Run ``dnsmon serve`` on 5,000 names × 4 servers; scrape /metrics while rounds run."""
    from tests.servers import Knot, Unbound, free_port

    labels = [f"host{i:04d}.bench.internal" for i in range(names)]
    zone = {"bench.internal": big_zone(labels)}
    with Knot(zone) as ns1, Knot(zone) as ns2:
        stubs = {"bench.internal": [ns1, ns2]}
        with Unbound(stubs) as ra, Unbound(stubs) as rb, tempfile.TemporaryDirectory() as tmp:
            config = _scrape_config(
                labels, {"resolver-a": ra, "resolver-b": rb}, {"ns1": ns1, "ns2": ns2}
            )
            path = Path(tmp) / "probes.yaml"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            _serve_and_scrape(path, free_port(), seconds)


def _scrape_config(labels: list[str], resolvers: dict, auths: dict) -> dict[str, Any]:
    servers = [{"name": n, "address": s.address, "port": s.port} for n, s in resolvers.items()]
    servers += [{"name": n, "address": s.address, "port": s.port, "role": "authoritative",
                 "zones": ["bench.internal"]} for n, s in auths.items()]  # fmt: skip
    return {
        "version": 1, "site": "bench",
        "defaults": {"interval": "5s", "timeout": "1s", "attempts": 2, "max_qps_per_server": 5000},
        "servers": servers,
        "names": [{"name": n, "type": "A"} for n in labels],
        "services": [{"name": f"svc{i}", "depends_on": labels[i * 10 : i * 10 + 10]}
                     for i in range(len(labels) // 10)],
    }  # fmt: skip


def _serve_and_scrape(config: Path, port: int, seconds: float) -> None:
    command = [sys.executable, "-c", "from monitor.cli import main; main()", "--config",
               str(config), "serve", "--listen", f"127.0.0.1:{port}",
               "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        _quiet_rounds(base, process.pid)
        latencies, sizes, resident = [], [], []
        start_cpu, start_rounds = _round_counters(base, process.pid)
        deadline = time.monotonic() + seconds
        # Scraped as Prometheus does: Accept-Encoding gzip.
        request = urllib.request.Request(base + "/metrics", headers={"Accept-Encoding": "gzip"})
        while time.monotonic() < deadline:
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=10) as response:
                compressed = response.read()
            latencies.append(time.perf_counter() - started)
            sizes.append(len(compressed))
            resident.append(_rss_mib(process.pid, "VmRSS:"))
            time.sleep(0.05)
        body = gzip.decompress(compressed)
        samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        status = json.loads(urllib.request.urlopen(base + "/api/status", timeout=10).read())
        end_cpu, end_rounds = _round_counters(base, process.pid)
        _print_scrape(latencies, sizes, samples, body, process.pid, status, resident)
        rounds = end_rounds - start_rounds
        if rounds:
            per_round = (end_cpu - start_cpu) / rounds
            print(f"  whole process CPU per round (probe, judge, metrics, page, report,"
                  f" and {len(latencies) / rounds:.0f} scrapes): {per_round:.2f} s"
                  f" over {rounds:.0f} rounds")  # fmt: skip
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def _quiet_rounds(base: str, pid: int, rounds: int = 6) -> None:
    """CPU per round with no scrapes in between: probe, judge, metrics, page, report."""
    cpu, done = _round_counters(base, pid)
    while _round_counters(base, pid)[1] < done + rounds:
        time.sleep(1.0)
    end_cpu, end_done = _round_counters(base, pid)
    print(f"serve: whole process CPU per round, no scrapes between: "
          f"{(end_cpu - cpu) / (end_done - done):.2f} s over {end_done - done:.0f} rounds;"
          f" resident memory {_rss_mib(pid, 'VmRSS:'):.0f} MiB")  # fmt: skip


def _round_counters(base: str, pid: int) -> tuple[float, float]:
    """(process CPU seconds, rounds) of the exporter now.

    CPU is read from the kernel; the round count from a scrape with gzip, which the
    exporter serves from its stored stream. (A plain scrape would cost it a 10 MB
    decompression, which was counted as the rounds' CPU before.)
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return cpu, exporter_counters(base, ("dnsmon_rounds_total",))["dnsmon_rounds_total"]


def exporter_counters(base: str, wanted: tuple[str, ...]) -> dict[str, float]:
    """Unlabelled samples of the exporter, read with gzip as Prometheus reads them: the
    exporter serves its stored stream, and the 10 MB decompression is the client's."""
    request = urllib.request.Request(base + "/metrics", headers={"Accept-Encoding": "gzip"})
    body = gzip.decompress(urllib.request.urlopen(request, timeout=10).read()).decode()
    found = dict.fromkeys(wanted, 0.0)
    for line in body.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found


def _wait_ready(base: str, process: subprocess.Popen) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(
                f"dnsmon serve exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            if urllib.request.urlopen(base + "/-/ready", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("dnsmon serve never became ready")


def _print_scrape(
    latencies: list[float],
    sizes: list[int],
    samples: int,
    body: bytes,
    pid: int,
    status: dict[str, Any],
    resident: list[float],
) -> None:
    quantiles = statistics.quantiles(latencies, n=20)
    peak = _rss_mib(pid, "VmHWM:")
    prefix = b"dnsmon_metrics_render_cpu_seconds "
    render_cpu = next(
        (float(line.split()[-1]) for line in body.splitlines() if line.startswith(prefix)),
        float("nan"),
    )
    print(
        f"metrics: {samples:,} samples, {len(body) / 1e6:.1f} MB"
        f" ({sizes[-1] / 1e6:.1f} MB gzipped) per scrape,"
        f" {len(latencies)} scrapes"
    )
    print(
        f"  /metrics latency p50 {statistics.median(latencies) * 1000:.1f} ms,"
        f" p95 {quantiles[18] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    print(
        f"  rendering CPU per round: {render_cpu:.3f} s;"
        f" round wall {status['duration_seconds']:.2f} s"
    )
    print(
        f"  resident memory of dnsmon serve after each scrape: median"
        f" {statistics.median(resident):.0f} MiB ({statistics.median(resident) * 1.048576:.0f} MB),"
        f" {min(resident):.0f}–{max(resident):.0f} MiB; peak {peak:.0f} MiB"
    )


def _rss_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def check_benchmark(names: int, runs: int = 5) -> None:
    """The whole ``dnsmon check --format json``, start-up to output, against a plain loop.

    One BIND authoritative server and two Unbound resolvers on loopback; every name asked
    of all three. The baseline asks the same queries with ``dns.query.udp`` one at a time,
    in this process; dnsmon runs as a user runs it, a fresh process each time, its CPU
    read from the kernel's accounting of the child.
    """
    from tests.servers import Bind, Unbound

    labels = [f"host{i:05d}.bench.internal" for i in range(names)]
    with Bind({"bench.internal": big_zone(labels)}) as ns1:
        stubs = {"bench.internal": [ns1]}
        with Unbound(stubs) as ra, Unbound(stubs) as rb, tempfile.TemporaryDirectory() as tmp:
            config = _check_config(labels, {"resolver-a": ra, "resolver-b": rb}, ns1)
            path = Path(tmp) / "probes.yaml"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            queries = probe_queries(labels, [("resolver-a", ra), ("resolver-b", rb)], ns1)
            _run_check(path)  # warm the resolvers' caches
            baselines = [_timed_loop(queries) for _ in range(runs)]
            checks = [_run_check(path) for _ in range(runs)]
            others = other_tools(queries)
    _print_check(names, len(queries), baselines, checks)
    base_rate = len(queries) / statistics.median(b[1] for b in baselines)
    for tool, per_wall, per_cpu in others:
        print(f"  {tool:<25} {per_cpu:>9,.0f} q/CPU-s  {per_wall:,.0f} q/s wall;"
              f" ratio to the plain loop per CPU second {per_cpu / base_rate:.2f}×")  # fmt: skip


def _check_config(labels: list[str], resolvers: dict, auth: Any) -> dict[str, Any]:
    config = _scrape_config(labels, resolvers, {"ns1": auth})
    config["defaults"] = {"timeout": "2s", "attempts": 2, "max_qps_per_server": 1_000_000}
    config["names"] = [
        {"name": n, "type": "A", "expect": [f"127.30.{i // 250}.{i % 250 + 1}"]}
        for i, n in enumerate(labels)
    ]
    return config


def _timed_loop(queries: list[Query]) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    ok = plain_dnspython_loop(queries)
    return time.perf_counter() - wall, time.process_time() - cpu, ok


def run_timed(argv: list[str], **options: Any) -> tuple[float, float, Any]:
    """(wall, CPU of the child, the finished process) of one command run to its end."""
    cpu, wall = _child_cpu(), time.perf_counter()
    done = subprocess.run(argv, check=False, **options)
    return time.perf_counter() - wall, _child_cpu() - cpu, done


def _run_check(config: Path) -> tuple[float, float, int]:
    """(wall, CPU of the child, answers ok) of one whole ``dnsmon check --format json``."""
    wall, cpu, done = run_timed(
        [str(Path(sys.executable).parent / "dnsmon"), "--config", str(config), "check",
         "--format", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    report = json.loads(done.stdout)
    ok = sum(r["result"] == "ok" for n in report["names"] for r in n["results"])
    return wall, cpu, ok


def whole_commands(config_text: str, runs: int = 3) -> None:
    """``dnsmon lint`` and ``dnsmon impact`` as a user runs them: a fresh process from
    start-up to the last line printed (to a file), text and JSON."""
    impact = ["impact", "--fail", "server:ns1", "--fail", "server:ns2"]
    commands = [["lint"], impact, [*impact, "--detail"]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probes.yaml"
        path.write_text(config_text)
        for verb in commands:
            for fmt in ("text", "json"):
                timings = [_run_command(path, [*verb, "--format", fmt]) for _ in range(runs)]
                walls = sorted(t[0] for t in timings)
                cpu = statistics.median(t[1] for t in timings)
                detail = " --detail" if "--detail" in verb else ""
                print(f"  whole dnsmon {verb[0]}{detail} --format {fmt}: wall"
                      f" {statistics.median(walls):.2f} s ({walls[0]:.2f}–{walls[-1]:.2f}),"
                      f" CPU {cpu:.2f} s, {timings[0][2]:,} bytes out")  # fmt: skip


def _run_command(config: Path, args: list[str]) -> tuple[float, float, int]:
    """(wall, CPU of the child, bytes printed) of one whole dnsmon command."""
    with tempfile.TemporaryFile() as out:
        wall, cpu, _ = run_timed(
            [str(Path(sys.executable).parent / "dnsmon"), "--config", str(config), *args],
            stdout=out, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return wall, cpu, out.tell()


def _print_check(
    names: int, queries: int, baselines: list[tuple[float, float, int]],
    checks: list[tuple[float, float, int]],
) -> None:  # fmt: skip
    def med(rows: list[tuple[float, float, int]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    def spread(rows: list[tuple[float, float, int]], i: int) -> str:
        return f"{min(r[i] for r in rows):.2f}–{max(r[i] for r in rows):.2f}"

    base_rate = queries / med(baselines, 1)
    rate = queries / med(checks, 1)
    print(f"check: {names:,} names × 3 servers = {queries:,} queries, {len(checks)} runs each;"
          f" ok: dnsmon {checks[-1][2]:,}, plain loop {baselines[-1][2]:,}")  # fmt: skip
    for label, rows, per_cpu in (("plain dns.query.udp loop", baselines, base_rate),
                                 ("whole dnsmon check", checks, rate)):  # fmt: skip
        print(f"  {label:<25} {per_cpu:>9,.0f} q/CPU-s  wall {med(rows, 0):.2f} s"
              f" ({spread(rows, 0)}), CPU {med(rows, 1):.2f} s ({spread(rows, 1)})")  # fmt: skip
    print(f"  ratio, queries per CPU second: {rate / base_rate:.2f}×")


def other_tools(queries: list[Query]) -> list[tuple[str, float, float]]:
    """(tool, queries per wall second, per CPU second) of Debian's dnsperf and
    blackbox_exporter asking the same queries, where they are installed."""
    import shutil

    rows = []
    if shutil.which("dnsperf"):
        rows.append(_dnsperf(queries))
    if shutil.which("prometheus-blackbox-exporter"):
        rows.append(_blackbox(queries))
    return rows


def _child_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _dnsperf(queries: list[Query]) -> tuple[str, float, float]:
    """dnsperf sends each server its share of the queries once (-n 1), as one round."""
    total_wall = total_cpu = 0.0
    by_server: dict[tuple[str, int], list[Query]] = {}
    for q in queries:
        by_server.setdefault((q.server.address, q.server.port), []).append(q)
    with tempfile.TemporaryDirectory() as tmp:
        for (address, port), asked in by_server.items():
            data = Path(tmp) / f"{port}.txt"
            data.write_text("".join(f"{q.name} {q.type}\n" for q in asked))
            cpu, wall = _child_cpu(), time.perf_counter()
            subprocess.run(["dnsperf", "-s", address, "-p", str(port), "-d", str(data),
                            "-n", "1", "-q", "100"], capture_output=True, check=False)  # fmt: skip
            total_wall += time.perf_counter() - wall
            total_cpu += _child_cpu() - cpu
    return "dnsperf (Debian)", len(queries) / total_wall, len(queries) / total_cpu


def _blackbox(queries: list[Query], sample: int = 1500) -> tuple[str, float, float]:
    """blackbox_exporter: one /probe per query, a module per name (its query_name is
    fixed per module), on a sample of the queries, probed one after another."""
    from tests.servers import free_port

    chosen = queries[:sample]
    modules = {
        f"q{i}": {"prober": "dns", "timeout": "2s",
                  "dns": {"query_name": q.name, "query_type": q.type,
                          "recursion_desired": q.recursion, "preferred_ip_protocol": "ip4"}}
        for i, q in enumerate(chosen)
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "blackbox.yml"
        config.write_text(yaml.safe_dump({"modules": modules}))
        port = free_port()
        process = subprocess.Popen(
            ["prometheus-blackbox-exporter", f"--config.file={config}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/-/healthy", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            cpu_before = _proc_cpu(process.pid)
            wall = time.perf_counter()
            for i, q in enumerate(chosen):
                target = f"{q.server.address}:{q.server.port}"
                urllib.request.urlopen(
                    f"{base}/probe?module=q{i}&target={target}", timeout=5
                ).read()
            wall = time.perf_counter() - wall
            cpu = _proc_cpu(process.pid) - cpu_before
        finally:
            process.terminate()
            process.wait(10)
    return "blackbox_exporter (Debian)", len(chosen) / wall, len(chosen) / cpu


def _proc_cpu(pid: int) -> float:
    """CPU seconds a running process has used, from /proc."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
