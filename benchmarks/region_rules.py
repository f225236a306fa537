"""The cost of the region rules (dashboards/dnsmon-region.yml) in a real Prometheus.

    .venv/bin/python benchmarks/region_rules.py                    # 10 sites × 5,000 names, 60 s
    .venv/bin/python benchmarks/region_rules.py --sites 3 --names 1000 --seconds 30
    .venv/bin/python benchmarks/region_rules.py --alerts           # dnsmon-alerts.yml as well

Not a test: it prints what it measured. One site's /metrics is rendered by dnsmon's own
code from a judged round of made-up answers (no DNS traffic): the names × 4 servers (2
resolvers, 2 authoritative) and 1,700 services (at 5,000 names) of benchmarks' generated
config, every answer right except that ns2 is silent, so each site reports a cause. Tiny
HTTP servers on 127.0.0.1, one per site, serve that same exposition, and Prometheus (the
`prometheus` on PATH) scrapes them every 5 s with a `site` label, evaluating rules every
5 s: first with no rules (the baseline), then with the region rules. Each run is measured
for ``--seconds`` once every site has been scraped; Prometheus's data lives in a temporary
directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import json
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGION_RULES = ROOT / "dashboards" / "dnsmon-region.yml"
ALERT_RULES = ROOT / "dashboards" / "dnsmon-alerts.yml"
INTERVAL = 5  # seconds, of scrapes and of rule evaluations
SILENT = "ns2"  # the server every site finds silent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--names", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured, per run")
    parser.add_argument("--alerts", action="store_true", help="load dnsmon-alerts.yml too")
    args = parser.parse_args()
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        sys.exit("region_rules.py needs the prometheus binary on PATH")
    services = args.names * 17 // 50  # 1,700 at 5,000 names
    body, samples, render_cpu = site_exposition(args.names, services)
    plain = len(gzip.decompress(body))
    print(f"exposition of one site: {args.names:,} names × 4 servers, {services:,} services,"
          f" {SILENT} silent: {samples:,} samples, {plain / 1e6:.1f} MB"
          f" ({len(body) / 1e6:.1f} MB gzipped); rendered in {render_cpu:.2f} CPU-s")  # fmt: skip
    sites = [Site(f"dc-{i + 1:02d}", body) for i in range(args.sites)]
    try:
        version = subprocess.run([prometheus, "--version"], capture_output=True, text=True,
                                 check=False).stdout.split("\n", 1)[0]  # fmt: skip
        print(f"{version.split(' (')[0]}: {args.sites} sites scraped every {INTERVAL} s,"
              f" rules evaluated every {INTERVAL} s, {args.seconds:.0f} s measured per run",
              flush=True)  # fmt: skip
        base = run(prometheus, sites, [], args.seconds)
        files = [REGION_RULES, ALERT_RULES] if args.alerts else [REGION_RULES]
        ruled = run(prometheus, sites, files, args.seconds)
    finally:
        for site in sites:
            site.stop()
    report(base, ruled, args.sites)


def site_exposition(names: int, services: int) -> tuple[bytes, int, float]:
    """(gzipped /metrics as ``dnsmon serve`` sends it, samples, rendering CPU seconds).

    The generated config judged on one round of answers: right ones from every server but
    ``SILENT``, which times out; rendered as a running ``serve`` renders a round, with the
    process metrics it appends to each scrape.
    """
    from prometheus_client import generate_latest

    from benchmarks.workloads import big_config
    from monitor.config import parse
    from monitor.judging import causes as causes_module
    from monitor.judging import graph as graph_module
    from monitor.judging.health import judge
    from monitor.judging.history import History, state_keys
    from monitor.outputs import metrics
    from monitor.outputs.report import Memory
    from monitor.probing.plan import Purpose
    from monitor.probing.results import ProbeResult, Round
    from monitor.serving.web import _process_registry
    from monitor.states import Result

    graph = graph_module.build(parse(big_config(services, names, 4)))
    started = time.time()
    round_ = Round(started, duration_seconds=0.8)
    rtt = random.Random(0)
    for q in graph.layout.build() + graph.layout.canaries():
        seconds = rtt.uniform(0.0003, 0.004)
        if q.server.name == SILENT:
            r = ProbeResult(q, Result.TIMEOUT)
        elif q.purpose is Purpose.CANARY:
            r = ProbeResult(q, Result.NXDOMAIN, seconds)
        elif q.purpose is Purpose.SOA:
            r = ProbeResult(q, Result.OK, seconds, ttl=300, answers=("soa",), serial=1)
        else:
            answers = tuple(sorted(q.expect)) if q.expect else ("127.0.0.1",)
            r = ProbeResult(q, Result.OK, seconds, ttl=300, answers=answers)
        round_.add(r)
    health = judge(graph, round_)
    found = causes_module.find(graph, health, round_.results.values())
    memory = Memory(History(started).observe(started, state_keys(health, found)), started)
    results = list(round_.results.values())
    totals = metrics.Totals()
    totals.add(health, results)
    view = metrics.RoundView(graph, health, results, started + 0.8, 0.8, found, memory)
    exposition = metrics.render(metrics.RoundCollector(view, totals))
    tail = generate_latest(_process_registry(metrics.ReloadState()))
    body = exposition.gzipped_with(tail)
    lines = gzip.decompress(body).splitlines()
    samples = sum(1 for line in lines if line and not line.startswith(b"#"))
    return body, samples, exposition.cpu_seconds


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404)
            return
        body = self.server.body
        gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
        if not gzipped:
            body = gzip.decompress(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    body = b""


class Site:
    """One site's dnsmon, as Prometheus sees it: /metrics on a free port of 127.0.0.1."""

    def __init__(self, name: str, body: bytes) -> None:
        self.name = name
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.body = body
        self.target = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@dataclass
class Run:
    """What one Prometheus run measured."""

    rule_files: list[Path]
    head_series: float = 0.0
    scraped: float = 0.0  # samples per scrape, all sites
    scrape_seconds: list[float] = field(default_factory=list)  # per site, the last scrape
    rss_mib: list[float] = field(default_factory=list)  # during the window
    heap_mib: list[float] = field(default_factory=list)  # Go heap in use, during the window
    peak_mib: float = 0.0
    cpu_share: float = 0.0  # of one core, during the window
    groups: dict[str, list[float]] = field(default_factory=dict)  # evaluation seconds
    rules: dict[tuple[str, int], tuple[str, list[float]]] = field(default_factory=dict)
    series: dict[str, float] = field(default_factory=dict)  # per recording rule or alert
    failures: float = 0.0  # rule evaluations that failed


def run(prometheus: str, sites: list[Site], rule_files: list[Path], seconds: float) -> Run:
    """Start Prometheus on the sites, with these rules; measure it; stop it."""
    from benchmarks.workloads import _proc_cpu, _rss_mib

    measured = Run(rule_files)
    with tempfile.TemporaryDirectory(prefix="region-rules-") as tmp:
        config = Path(tmp) / "prometheus.yml"
        config.write_text(json.dumps(prometheus_config(sites, rule_files), indent=2))
        port = _free_port()
        log = (Path(tmp) / "prometheus.log").open("w")
        process = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp}/data",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        api = f"http://127.0.0.1:{port}"
        try:
            _wait_scraped(api, process, len(sites), Path(log.name))
            time.sleep(2 * INTERVAL)  # an evaluation or two on every site's series first
            started, cpu = time.monotonic(), _proc_cpu(process.pid)
            seen: set[tuple[str, str]] = set()
            while time.monotonic() - started < seconds:
                if rule_files:
                    _read_rules(api, measured, seen)
                measured.rss_mib.append(_rss_mib(process.pid, "VmRSS:"))
                measured.heap_mib.append(_own_metrics(api)["go_memstats_heap_inuse_bytes"] / 2**20)
                time.sleep(1.0)
            measured.cpu_share = (_proc_cpu(process.pid) - cpu) / (time.monotonic() - started)
            measured.peak_mib = _rss_mib(process.pid, "VmHWM:")
            _read_series(api, measured)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            log.close()
    return measured


def prometheus_config(sites: list[Site], rule_files: list[Path]) -> dict[str, Any]:
    """JSON, which Prometheus reads as YAML."""
    every = f"{INTERVAL}s"
    return {
        "global": {"scrape_interval": every, "scrape_timeout": every,
                   "evaluation_interval": every},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{
            "job_name": "dnsmon",
            "static_configs": [{"targets": [s.target], "labels": {"site": s.name}}
                               for s in sites],
        }],
    }  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_scraped(api: str, process: subprocess.Popen, sites: int, log: Path) -> None:
    """Until every site has been scraped whole once (its samples all appended)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited: {log.read_text()[-2000:]}")
        try:
            up = _query(api, 'count(up{job="dnsmon"} == 1 and scrape_samples_scraped > 0)')
        except OSError:
            up = []
        if up and float(up[0]["value"][1]) >= sites:
            return
        time.sleep(1.0)
    raise RuntimeError(f"not every site scraped in 2 minutes: {log.read_text()[-2000:]}")


def _query(api: str, expr: str) -> list[dict[str, Any]]:
    url = f"{api}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=30) as response:
        result: list[dict[str, Any]] = json.load(response)["data"]["result"]
    return result


def _read_rules(api: str, measured: Run, seen: set[tuple[str, str]]) -> None:
    """Each group's latest evaluation (and its rules'), once per evaluation."""
    with urllib.request.urlopen(f"{api}/api/v1/rules", timeout=30) as response:
        groups = json.load(response)["data"]["groups"]
    for group in groups:
        key = (group["name"], group["lastEvaluation"])
        if key in seen or group["lastEvaluation"].startswith("0001-"):
            continue
        seen.add(key)
        measured.groups.setdefault(group["name"], []).append(group["evaluationTime"])
        for i, rule in enumerate(group["rules"]):  # by place: two alerts may share a name
            _, times = measured.rules.setdefault((group["name"], i), (rule["name"], []))
            times.append(rule["evaluationTime"])


def _own_metrics(api: str) -> dict[str, float]:
    """Prometheus's own metrics (it does not scrape itself here), failures summed."""
    found = {"prometheus_rule_evaluation_failures_total": 0.0}
    with urllib.request.urlopen(f"{api}/metrics", timeout=30) as response:
        for line in response.read().decode().splitlines():
            name, _, value = line.rpartition(" ")
            if name.startswith("prometheus_rule_evaluation_failures_total{"):
                found["prometheus_rule_evaluation_failures_total"] += float(value)
            elif name and not name.startswith("#"):
                found[name] = float(value)
    return found


def _read_series(api: str, measured: Run) -> None:
    own = _own_metrics(api)
    measured.head_series = own["prometheus_tsdb_head_series"]
    measured.failures = own["prometheus_rule_evaluation_failures_total"]
    scraped = _query(api, 'sum(scrape_samples_scraped{job="dnsmon"})')
    measured.scraped = float(scraped[0]["value"][1]) if scraped else 0.0
    durations = _query(api, 'scrape_duration_seconds{job="dnsmon"}')
    measured.scrape_seconds = [float(s["value"][1]) for s in durations]
    for expr, label in (('count by (__name__) ({__name__=~"dnsmon:.+"})', "__name__"),
                        ("count by (alertname) (ALERTS)", "alertname")):  # fmt: skip
        for s in _query(api, expr):
            measured.series[s["metric"][label]] = float(s["value"][1])


def report(base: Run, ruled: Run, sites: int) -> None:
    added = ruled.head_series - base.head_series
    print()
    print(f"{'':34}{'baseline':>14}{'with rules':>14}{'difference':>14}")
    _line("series scraped per round", base.scraped, ruled.scraped)
    _line("head series", base.head_series, ruled.head_series)
    _line("resident MiB, median in window", statistics.median(base.rss_mib),
          statistics.median(ruled.rss_mib), "{:,.0f}")  # fmt: skip
    _line("resident MiB, peak", base.peak_mib, ruled.peak_mib, "{:,.0f}")
    _line("Go heap in use MiB, median", statistics.median(base.heap_mib),
          statistics.median(ruled.heap_mib), "{:,.0f}")  # fmt: skip
    _line("CPU, % of one core in window", 100 * base.cpu_share, 100 * ruled.cpu_share, "{:,.1f}")
    _line("scrape duration p50 ms", 1000 * statistics.median(base.scrape_seconds),
          1000 * statistics.median(ruled.scrape_seconds), "{:,.0f}")  # fmt: skip
    print(f"  series the rules add: {added:,.0f} = {100 * added / ruled.scraped:.2f} % of the"
          f" {ruled.scraped:,.0f} scraped ({added / sites:,.0f} per site); resident memory"
          f" {statistics.median(ruled.rss_mib) / statistics.median(base.rss_mib):.2f}× the"
          f" baseline's; rule evaluations failed: {ruled.failures:.0f}")  # fmt: skip
    for group, times in ruled.groups.items():
        ms = [1000 * t for t in times]
        print(f"\ngroup {group}: {len(ms)} evaluations; evaluation time median"
              f" {statistics.median(ms):.1f} ms, max {max(ms):.1f} ms, min {min(ms):.1f} ms"
              f" ({100 * statistics.median(ms) / 1000 / INTERVAL:.1f} % of the {INTERVAL} s"
              f" interval)")  # fmt: skip
        print(f"  {'rule':<34}{'series':>8}{'median ms':>11}{'max ms':>9}")
        for (in_group, _), (rule, rule_times) in ruled.rules.items():
            if in_group != group:
                continue
            series = ruled.series.get(rule, 0.0)
            print(f"  {rule:<34}{series:>8,.0f}{1000 * statistics.median(rule_times):>11.2f}"
                  f"{1000 * max(rule_times):>9.2f}")  # fmt: skip


def _line(label: str, base: float, ruled: float, form: str = "{:,.0f}") -> None:
    change = ("+" if ruled >= base else "") + form.format(ruled - base)
    print(f"  {label:<32}{form.format(base):>14}{form.format(ruled):>14}{change:>14}")


if __name__ == "__main__":
    main()
