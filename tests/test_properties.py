"""Properties that must hold for every config and every round, not just the examples.

Configs are drawn at random (services with acyclic ``service:`` dependencies, names in a
few zones, backups with and without DNS) and written as YAML, so they pass through the
same parser users' files do. Results are drawn from the whole vocabulary.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import Config, ConfigError, parse
from monitor.config.answers import canonical_rdata
from monitor.judging import graph as graph_module
from monitor.judging import impact
from monitor.judging.graph import Graph
from monitor.judging.health import Health, judge
from monitor.judging.runway import (
    RISE_SLACK,
    CachedAnswer,
    RunwayClock,
    cache_countdown,
    first_to_stop,
    runway,
)
from monitor.probing import plan
from monitor.probing.results import ProbeResult, Round
from monitor.states import (
    BACKUP_SEVERITY,
    NAME_SEVERITY,
    SERVICE_SEVERITY,
    BackupState,
    Lookup,
    NameState,
    Result,
    ServiceState,
)

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SERVERS = [
    {"name": "resolver-a", "address": "127.0.0.1", "port": 5301},
    {"name": "resolver-b", "address": "::1", "port": 5302},
    {"name": "ns-a1", "address": "127.0.0.1", "port": 5311, "role": "authoritative",
     "zones": ["a.internal"]},
    {"name": "ns-a2", "address": "127.0.0.1", "port": 5312, "role": "authoritative",
     "zones": ["a.internal"]},
    {"name": "ns-b1", "address": "127.0.0.1", "port": 5313, "role": "authoritative",
     "zones": ["b.internal"]},
]  # fmt: skip
SERVER_NAMES = [s["name"] for s in SERVERS]
# c.internal has no listed authoritative server: only the resolvers are asked
HOSTS = [f"{h}.{z}" for z in ("a.internal", "b.internal", "c.internal") for h in "wxyz"]
HOSTS += ["a.internal"]  # the zone apex, whose SOA is also the serial check


@st.composite
def names(draw: st.DrawFn) -> list[dict]:
    hosts = draw(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=6, unique=True))
    out = []
    for host in hosts:
        entry: dict = {"name": host, "type": draw(st.sampled_from(["A", "AAAA", "SOA", "TXT"]))}
        if draw(st.booleans()):
            entry["servers"] = draw(
                st.lists(st.sampled_from(SERVER_NAMES), min_size=1, max_size=3, unique=True)
            )
        out.append(entry)
    return out


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    """A valid probes.yaml: service i may depend only on services before it, then shuffled."""
    listed = draw(names())
    hosts = [n["name"] for n in listed]
    subset = st.lists(st.sampled_from(hosts), max_size=3, unique=True)
    count = draw(st.integers(1, 5))
    services = []
    for i in range(count):
        needs = draw(st.lists(st.integers(0, i - 1), max_size=2, unique=True)) if i else []
        backups = [
            {"name": f"b{j}", "description": "by hand", "depends_on": draw(subset)}
            for j in range(draw(st.integers(0, 2)))
        ]
        depends_on = draw(subset) + [f"service:s{k}" for k in needs]
        services.append({"name": f"s{i}", "depends_on": depends_on, "backups": backups})
    services = draw(st.permutations(services))
    return yaml.safe_dump({"servers": SERVERS, "names": listed, "services": list(services)})


def results_for(
    draw: st.DrawFn, config: Config, ok_weight: int = 1
) -> dict[tuple[str, str, str], ProbeResult]:
    """Any result for every query; ``ok_weight`` times as likely ok as anything else."""
    out = {}
    kinds = [Result.OK] * (ok_weight - 1) + list(Result)
    # dnsmon's own questions, and the clients' (of resolvers a name's servers: leaves out)
    for query in plan.build(config) + graph_module.build(config).client_plan.always():
        result = draw(st.sampled_from(kinds), label=str(query.key))
        ok = result is Result.OK
        out[query.key] = ProbeResult(
            query,
            result,
            rtt_seconds=0.001 if result is not Result.TIMEOUT else None,
            ttl=draw(st.integers(1, 3600)) if ok else None,
            answers=draw(st.sampled_from([("127.0.0.1",), ("127.0.0.2",)])) if ok else (),
            serial=draw(st.sampled_from([1, 2])) if ok and query.type == "SOA" else None,
        )
    return out


def scenario(data: st.DataObject) -> tuple[Graph, dict, Health]:
    config = parse(data.draw(config_texts(), label="probes.yaml"))
    graph = graph_module.build(config)
    results = results_for(data.draw, config)
    return graph, results, judge(graph, Round(0.0, results=results))


@SETTINGS
@given(st.data())
def test_a_service_needing_a_failing_name_is_down(data: st.DataObject) -> None:
    graph, _, health = scenario(data)
    for name, service in health.services.items():
        needed = graph.service_deps(name).names
        if any(health.names[key].state is NameState.FAILING for key in needed):
            assert service.state is ServiceState.DOWN, name


@SETTINGS
@given(st.data())
def test_a_service_whose_names_are_all_healthy_is_up(data: st.DataObject) -> None:
    """Healthy in dnsmon's own view, and looked up well by every client group."""
    graph, _, health = scenario(data)
    lookups = [found for group in health.lookups.values() for found in group.items()]
    for name, service in health.services.items():
        needed = graph.service_deps(name).names
        dark = any(z.dark for z in health.zones.values())
        felt = any(key in needed and f.result is not Lookup.OK for key, f in lookups)
        if (
            not dark
            and not felt
            and all(health.names[k].state is NameState.HEALTHY for k in needed)
        ):
            assert service.state is ServiceState.UP, name


@SETTINGS
@given(st.data())
def test_a_backup_without_dns_is_always_usable(data: st.DataObject) -> None:
    graph, _, health = scenario(data)
    for name, service in health.services.items():
        for backup, spec in zip(service.backups, graph.services[name].backups, strict=True):
            if not spec.depends_on:
                assert backup.state is BackupState.USABLE
                assert backup.fate.level is None


@SETTINGS
@given(st.data())
def test_more_timeouts_never_make_anything_better(data: st.DataObject) -> None:
    graph, results, before = scenario(data)
    ok = sorted(k for k, r in results.items() if r.ok)
    broken = data.draw(
        st.lists(st.sampled_from(ok), min_size=1, unique=True) if ok else st.just([])
    )
    worse = dict(results)
    for key in broken:
        worse[key] = replace(results[key], result=Result.TIMEOUT, ttl=None, answers=())
    after = judge(graph, Round(0.0, results=worse))
    for key, name in before.names.items():
        assert NAME_SEVERITY[after.names[key].state] >= NAME_SEVERITY[name.state], key
    for key, service in before.services.items():
        now = after.services[key]
        assert SERVICE_SEVERITY[now.state] >= SERVICE_SEVERITY[service.state], key
        for b_before, b_after in zip(service.backups, now.backups, strict=True):
            assert BACKUP_SEVERITY[b_after.state] >= BACKUP_SEVERITY[b_before.state], b_before.name


@st.composite
def cyclic_services(draw: st.DrawFn) -> tuple[list[dict], set[tuple[str, str]]]:
    """Services with random dependencies and at least one cycle of two or more."""
    count = draw(st.integers(2, 6))
    nodes = [f"s{i}" for i in range(count)]
    edges = {
        (a, b)
        for a in nodes
        for b in nodes
        if a != b and draw(st.booleans(), label=f"{a}->{b}") and draw(st.booleans())
    }
    loop = draw(st.permutations(nodes))[: draw(st.integers(2, count))]
    edges |= {(loop[i], loop[(i + 1) % len(loop)]) for i in range(len(loop))}
    services = [
        {"name": n, "depends_on": ["h.a.internal", *(f"service:{b}" for a, b in edges if a == n)]}
        for n in nodes
    ]
    return services, edges


@SETTINGS
@given(cyclic_services())
def test_a_dependency_cycle_is_refused_and_spelled_out(drawn: tuple[list[dict], set]) -> None:
    services, edges = drawn
    text = yaml.safe_dump(
        {"servers": SERVERS, "names": [{"name": "h.a.internal"}], "services": services}
    )
    with pytest.raises(ConfigError) as caught:
        parse(text)
    errors = caught.value.errors
    cycles = [e.split("dependency cycle: ", 1)[1] for e in errors if "dependency cycle: " in e]
    assert cycles
    assert len(cycles) == len(errors)  # nothing else is wrong with these configs
    for cycle in cycles:
        hops = cycle.split(" → ")
        assert hops[0] == hops[-1] and len(hops) >= 3
        assert all((a, b) in edges for a, b in zip(hops, hops[1:], strict=False))


# --- issue: never a false "up" ------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_a_service_needing_a_name_answered_only_stale_is_never_up(data: st.DataObject) -> None:
    graph, results, _ = scenario(data)
    needed = sorted({k for s in graph.services for k in graph.service_deps(s).names})
    if not needed:
        return
    key = data.draw(st.sampled_from(needed))
    stale = dict(results)
    for k, r in results.items():
        if (k[0], k[1]) == key and r.recursive:
            stale[k] = replace(r, result=Result.STALE, answers=("127.0.0.1",), ttl=30)
    health = judge(graph, Round(0.0, results=stale))
    asked_of_resolvers = any(r.recursive for r in health.names[key].results)
    for name in graph.services:
        if asked_of_resolvers and key in graph.service_deps(name).names:
            assert health.services[name].state is not ServiceState.UP, name


@st.composite
def caches(draw: st.DrawFn) -> list[tuple[int, int | None]]:
    """Resolvers holding one answer when the authority is lost: (TTL left, serve_stale)."""
    return draw(
        st.lists(
            st.tuples(st.integers(0, 600), st.one_of(st.none(), st.integers(0, 900))),
            min_size=1,
            max_size=4,
        )
    )


def _observed(t: float, resolvers: list[tuple[int, int | None]]) -> list[CachedAnswer]:
    """What a round at ``t`` seconds after the loss shows, as real resolvers behave."""
    seen = []
    for i, (ttl, window) in enumerate(resolvers):
        if t < ttl:
            seen.append(CachedAnswer(("n", "A"), f"r{i}", ttl - t + (window or 0), False, "lost"))
        elif window is not None and t < ttl + window:
            seen.append(CachedAnswer(("n", "A"), f"r{i}", float(window), True, "lost"))
    return seen


@SETTINGS
@given(caches(), st.lists(st.floats(0.5, 120), min_size=1, max_size=12))
def test_runway_never_grows_while_the_authority_stays_lost(
    resolvers: list[tuple[int, int | None]], gaps: list[float]
) -> None:
    """Each cached answer's time left only counts down, through its TTL and then its stale
    window; a service's runway is the least of them still cached."""
    clock, t = RunwayClock(), 0.0
    last: dict[str, float] = {}
    for gap in [0.0, *gaps]:
        t += gap
        anchored = clock.observe(t, _observed(t, resolvers))
        for answer in anchored:
            if answer.seconds is not None and answer.server in last:
                assert answer.seconds <= last[answer.server], (t, answer, last)
        last = {a.server: a.seconds for a in anchored if a.seconds is not None}
        known = [a.seconds for a in anchored if a.seconds is not None]
        assert runway(anchored) == (int(min(known)) if known else None)


@SETTINGS
@given(caches(), st.lists(st.floats(0.5, 120), min_size=1, max_size=12))
def test_a_runway_that_ends_later_always_says_why(
    resolvers: list[tuple[int, int | None]], gaps: list[float]
) -> None:
    """As resolvers' caches run out one after another, a service's runway (the first
    to stop) must rise; each rise names what ran out and what the countdown follows."""
    clock, t = RunwayClock(), 0.0
    end: float | None = None
    for gap in [0.0, *gaps]:
        t += gap
        anchored = clock.observe(t, _observed(t, resolvers))
        first = first_to_stop(anchored)
        seconds = runway(anchored)
        countdown = cache_countdown(first) if first is not None else None
        rose = clock.rise("ehr", t, seconds, countdown, False, lambda c: "gone")
        if seconds is None:
            continue
        if end is not None and t + seconds > end + RISE_SLACK:
            assert countdown is not None
            said = (f"{countdown.by} was fetched again (gone)",  # the same answer, a fresh TTL
                    f" ran out (gone); the countdown now follows {countdown.by}")  # fmt: skip
            assert rose == said[0] or rose.endswith(said[1]), (t, rose)
        elif not rose:
            assert end is None or t + seconds <= end + RISE_SLACK
        end = t + seconds


@SETTINGS
@given(st.data())
def test_shared_fate_is_the_same_whatever_the_order(data: st.DataObject) -> None:
    graph, _, _ = scenario(data)
    keys = sorted(graph.names)
    mine = frozenset(data.draw(st.lists(st.sampled_from(keys), min_size=1, unique=True)))
    theirs = frozenset(data.draw(st.lists(st.sampled_from(keys), min_size=1, unique=True)))
    assert graph.fate_between(mine, theirs) == graph.fate_between(theirs, mine)
    for service in graph.services.values():
        for backup in service.backups:
            shuffled = tuple(data.draw(st.permutations(backup.depends_on)))
            assert graph.shared_fate(service.name, shuffled) == graph.shared_fate(
                service.name, backup.depends_on
            )


@SETTINGS
@given(st.data())
def test_the_short_path_for_names_ok_everywhere_judges_as_the_long_way(
    data: st.DataObject,
) -> None:
    """Names answered ok by every server skip the runway and cache work; whatever the
    round, and whatever ``impact`` imagines, the verdicts are those of the long way."""
    config = parse(data.draw(config_texts(), label="probes.yaml"))
    graph = graph_module.build(config)
    measured = Round(0.0, results=results_for(data.draw, config, ok_weight=8))
    assert judge(graph, measured) == judge(graph, measured, long_way=True)
    failing = data.draw(st.lists(st.sampled_from(SERVER_NAMES), max_size=3, unique=True))
    imagined = impact.imagine(graph, [impact.Failure("server", name) for name in failing])
    assert judge(graph, imagined) == judge(graph, imagined, long_way=True)


def _address_as_ipaddress_reads_it(text: str) -> str:
    """The expect reader before its fast path: Python's ipaddress, strict, v4 only."""
    address = ipaddress.ip_address(text.strip())
    if address.version != 4:
        raise ValueError("not an IPv4 address")
    return str(address)


dotted = st.lists(st.integers(0, 300).map(str) | st.sampled_from(["00", "01", "0x1", ""]),
                  min_size=1, max_size=6).map(".".join)  # fmt: skip


@SETTINGS
@given(dotted | st.text(alphabet="0123456789.:abfx \t\n\x00٣", max_size=24) | st.text())
def test_an_a_expect_reads_exactly_as_ipaddress_reads_it(text: str) -> None:
    try:
        expected: str | type[ValueError] = _address_as_ipaddress_reads_it(text)
    except ValueError:
        expected = ValueError
    try:
        got: str | type[ValueError] = canonical_rdata("A", text)
    except ValueError:
        got = ValueError
    assert got == expected


def _what_if(config: Config, failures: list[impact.Failure], detail: bool) -> list[dict]:
    """What impact says of services, backups and causes in each moment."""
    from monitor.serving import whatif
    from monitor.serving.rounds import Monitor

    found, _ = whatif.moments(Monitor(config), failures, detail)
    return [{
        "moment": (m.name, m.after_seconds), "status": m.report["status"],
        "services": {
            s["name"]: (s["status"], s["runway_seconds"], s["people"],
                        [(b["name"], b["status"]) for b in s["backups"]])
            for s in m.report["services"]
        },
        "causes": [(c["kind"], c["target"], c["summary"], c["services"])
                   for c in m.report["causes"]],
    } for m in found]  # fmt: skip


@SETTINGS
@given(st.data())
def test_impact_judging_each_class_of_names_once_says_what_every_name_says(
    data: st.DataObject,
) -> None:
    """impact's summary judges one name per class of names that fare alike; its
    services, backups and causes (with their counts of names and lookups) are those
    of judging every name, in both moments."""
    from monitor.judging import classes

    config = parse(data.draw(config_texts(), label="probes.yaml"))
    if data.draw(st.booleans(), label="resolver-b serves stale"):
        servers = tuple(replace(s, serve_stale=3600.0) if s.name == "resolver-b" else s
                        for s in config.servers)  # fmt: skip
        config = replace(config, servers=servers)
    graph = graph_module.build(config)
    targets = [impact.Failure("server", s) for s in SERVER_NAMES]
    targets += [impact.Failure("zone", z) for z in graph.zones]
    targets += [impact.Failure("name", n) for n in sorted(graph.keys_by_name)]
    failures = data.draw(st.lists(st.sampled_from(targets), min_size=1, max_size=3, unique=True))
    reduced, weights = classes.reduce(config, graph, [f.name for f in failures if f.kind == "name"])
    assert sum(weights.values()) == len({n.name for n in config.names})
    assert len(reduced.names) <= len(config.names)
    assert _what_if(config, failures, detail=False) == _what_if(config, failures, detail=True)
