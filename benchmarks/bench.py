"""dnsmon benchmarks: figures and ratios measured in one run against a baseline.

    python3 benchmarks/bench.py            # everything
    python3 benchmarks/bench.py probe      # one part: probe | signed | check | static | metrics

Not a test: it prints what it measured. Real servers (Knot, Unbound) run on loopback
high ports, started and stopped by this script; no traffic leaves 127.0.0.0/8.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' server helpers import as top-level modules

PARTS: dict[str, Callable[[], None]] = {}


def part(fn: Callable[[], None]) -> Callable[[], None]:
    PARTS[fn.__name__] = fn
    return fn


def measure(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


@part
def probe() -> None:
    """One round of 2,000 names × 3 servers against Knot and two Unbound resolvers."""
    from benchmarks.workloads import big_zone, plain_dnspython_loop, probe_queries
    from monitor.probing.probe import Prober, ProbeSettings
    from tests.servers import Knot, Unbound

    names = [f"host{i:04d}.bench.internal" for i in range(2000)]
    with Knot({"bench.internal": big_zone(names)}) as knot:
        stubs = {"bench.internal": [knot]}
        with Unbound(stubs) as ra, Unbound(stubs) as rb:
            queries = probe_queries(names, [("resolver-a", ra), ("resolver-b", rb)], knot)
            prober = Prober(ProbeSettings(timeout=2.0, attempts=2, max_qps_per_server=1e6))
            prober.run(queries)  # warm the resolvers' caches and our templates
            base_wall, base_cpu, base_ok = measure(lambda: plain_dnspython_loop(queries))
            wall, cpu, results = measure(lambda: prober.run(queries))
    ok = sum(r.ok for r in results)  # type: ignore[attr-defined]
    n = len(queries)
    print(f"probe round: {n} queries (2,000 names × 3 servers), {ok} ok; baseline {base_ok} ok")
    _row("plain dnspython loop", n, base_wall, base_cpu)
    _row("dnsmon prober", n, wall, cpu)
    print(f"  ratio, queries per CPU second: {(n / cpu) / (n / base_cpu):.1f}×"
          f"   wall: {base_wall / wall:.1f}× faster")  # fmt: skip


def _row(label: str, n: int, wall: float, cpu: float) -> None:
    print(f"  {label:<22} {n / wall:>9,.0f} q/s wall  {n / cpu:>9,.0f} q/CPU-s"
          f"  ({wall:.2f} s wall, {cpu:.2f} s CPU)")  # fmt: skip


@part
def signed() -> None:
    """Reading 60,000 signed A answers (asked with the DO bit): fast path against the full
    dnspython parser, the baseline."""
    import dns.message
    import dns.rdatatype
    import dns.rrset

    from monitor.probing.wire import ReplyParser, template

    name = "ehr-db.region.internal"
    reply = dns.message.make_response(dns.message.make_query(name, "A", want_dnssec=True))
    reply.answer.append(dns.rrset.from_text(name + ".", 300, "IN", "A", "127.20.1.15"))
    reply.answer.append(dns.rrset.from_text(
        name + ".", 300, "IN", "RRSIG",
        "A 13 3 300 20261206170000 20261206000000 1234 region.internal. " + "A" * 88,
    ))  # fmt: skip
    wire, parser, n = reply.to_wire(), ReplyParser(), 60_000
    question = template(name, "A", False).question
    _, full_cpu, _ = measure(lambda: [parser.parse(wire, dns.rdatatype.A) for _ in range(n)])
    _, fast_cpu, _ = measure(
        lambda: [parser.parse(wire, dns.rdatatype.A, question) for _ in range(n)]
    )
    print(f"signed answers: {n:,} A answers with an RRSIG each")
    print(f"  full parser (baseline) {full_cpu:.2f} CPU-s; fast path {fast_cpu:.2f} CPU-s; "
          f"ratio {full_cpu / fast_cpu:.1f}x")  # fmt: skip


@part
def check() -> None:
    """The whole ``dnsmon check --format json`` at 2,000 and 5,000 names × 3 servers."""
    from benchmarks.workloads import check_benchmark

    for names in (2000, 5000):
        check_benchmark(names)


@part
def static() -> None:
    """lint and impact on 10,000 services, 30,000 names and 8 servers."""
    from benchmarks.workloads import big_config
    from monitor import config
    from monitor.judging import graph, health, impact, lint

    text = big_config(services=10_000, names=30_000, servers=8)
    wall, cpu, cfg = measure(lambda: config.parse(text, "big.yaml"))
    print(f"static: config of {len(text) / 1e6:.1f} MB: parse+validate {wall:.2f} s wall")
    g = graph.build(cfg)  # type: ignore[arg-type]
    lint_wall, _, found = measure(lambda: lint.findings(cfg, graph.build(cfg)))  # type: ignore[arg-type]
    print(f"  lint findings: {lint_wall:.2f} s ({len(found)} findings)")  # type: ignore[arg-type]
    fails = [impact.Failure("server", "ns1"), impact.Failure("server", "ns2")]

    def what_if() -> object:
        return health.judge(g, impact.imagine(g, fails))

    impact_wall, _, _ = measure(what_if)
    print(f"  impact --fail server:ns1 --fail server:ns2: {impact_wall:.2f} s")
    print(
        f"  total lint (parse + findings): {wall + lint_wall:.2f} s;"
        f" impact (parse + judge): {wall + impact_wall:.2f} s"
    )
    from benchmarks.workloads import whole_commands

    whole_commands(text)


@part
def metrics() -> None:
    """/metrics with 5,000 names × 4 servers, served while rounds run."""
    from benchmarks.workloads import scrape_benchmark

    scrape_benchmark()


if __name__ == "__main__":
    chosen = sys.argv[1:] or list(PARTS)
    unknown = [name for name in chosen if name not in PARTS]
    if unknown:
        sys.exit(f"usage: bench.py [{' | '.join(PARTS)}]… (unknown: {', '.join(unknown)})")
    for name in chosen:
        PARTS[name]()
        print()
