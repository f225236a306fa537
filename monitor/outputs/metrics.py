"""Every metric of SPEC.md, defined here and nowhere else.

Results change once a round, so the exposition is rendered once a round: a custom
collector builds fresh metric families from the round's outcome, and every scrape until
the next round serves those bytes. Counters and the per-server histogram accumulate
across rounds here. Label values come only from the config (names, servers, services)
and the fixed vocabularies, so label sets are bounded.

Each family is defined with prometheus-client, which also renders the small ones. The
families of one series per name and server (a hundred thousand lines at 5,000 names) are
rendered by ``Series``: the label part of each line once per config, only the value each
round, in exactly prometheus-client's text format (a test compares the two byte for byte).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from monitor.config import Config
from monitor.judging.causes import Cause
from monitor.judging.causes.recovery import recovery_seconds
from monitor.judging.graph import Graph
from monitor.judging.health import Health
from monitor.outputs.report import Memory, clock_time
from monitor.probing.results import ProbeResult, ServerFacts, server_facts
from monitor.states import BackupState, Lookup, People, ServiceState

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class _Histogram:
    # Per bound, the values that fit it and no smaller one; the last counts those over
    # every bound (a bisection per value rather than a comparison with every bound).
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    count: int = 0
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.buckets[bisect.bisect_left(BUCKETS, value)] += 1

    def family_buckets(self) -> list[tuple[str, float]]:
        """Cumulative per bound, as the exposition has them."""
        cumulative = itertools.accumulate(self.buckets[: len(BUCKETS)])
        pairs = [(_bound(b), float(n)) for b, n in zip(BUCKETS, cumulative, strict=True)]
        return [*pairs, ("+Inf", float(self.count))]


def _bound(value: float) -> str:
    return repr(value)


@dataclass
class Totals:
    """What accumulates across rounds (and survives reloads)."""

    results: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    ede: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    servers: dict[str, _Histogram] = field(default_factory=dict)
    rounds: int = 0
    overruns: int = 0
    render_cpu_seconds: float = 0.0  # of the previous round's exposition

    def forget_except(self, config: Config) -> None:
        """After a reload, drop counts of names and servers the config no longer has."""
        names = {(n.name, n.type) for n in config.names}
        names |= {(z, "SOA") for s in config.servers for z in s.zones}
        servers = {s.name for s in config.servers}
        for counts in (self.results, self.ede):
            kept = {k: v for k, v in counts.items() if (k[0], k[1]) in names and k[2] in servers}
            counts.clear()
            counts.update(kept)
        self.servers = {k: v for k, v in self.servers.items() if k in servers}

    def add(self, health: Health, results: Iterable[ProbeResult]) -> None:
        """Count a round: answers per configured name, and every round trip per server."""
        self.rounds += 1
        for labels, r in labelled(health):
            key = (*labels, r.result.value)
            self.results[key] = self.results.get(key, 0) + 1
            for ede in r.ede:
                key = (*labels, str(ede.code))
                self.ede[key] = self.ede.get(key, 0) + 1
        for r in results:  # canaries too: they are round trips like any other
            if r.rtt_seconds is not None:
                self.servers.setdefault(r.query.server.name, _Histogram()).observe(r.rtt_seconds)


def labelled(health: Health) -> Iterator[tuple[tuple[str, str, str], ProbeResult]]:
    """Every answer that metrics show per name, labelled by the configured name it serves.

    A CNAME target's answers count under the name that leads to it, and canaries under
    no name: label values come from the config, never from answers.
    """
    for (name, rdtype), found in health.names.items():
        for r in found.results:
            yield (name, rdtype, r.query.server.name), r
    for zone in health.zones.values():
        for server, soa in zone.soa_results.items():
            yield (zone.name, "SOA", server), soa


@dataclass
class RoundView:
    """One round's outcome as the collector needs it."""

    graph: Graph
    health: Health
    results: list[ProbeResult]  # every answer of the round, canaries and serials included
    finished_at: float
    duration: float
    causes: list[Cause] = field(default_factory=list)
    memory: Memory | None = None  # since when, for a running monitor
    facts: dict[str, ServerFacts] | None = None  # per server; from ``results`` when None
    learned: Any = None  # serving.learning.Learned, where serve learns from traffic
    started_at: float | None = None  # the round's start; else its end less its probing

    def __post_init__(self) -> None:
        if self.facts is None:
            self.facts = server_facts(self.results)


@dataclass
class ReloadState:
    successful: bool = True
    success_timestamp: float = field(default_factory=time.time)


class Series:
    """A gauge or counter family: prometheus-client's definition, rendered line by line
    from label prefixes kept across rounds."""

    def __init__(self, kind: type[Metric], name: str, doc: str, labels: list[str]) -> None:
        self.kind, self.name, self.doc, self.labels = kind, name, doc, labels
        self.sample = f"{name}_total" if kind is CounterMetricFamily else name
        self.values: list[tuple[tuple[str, ...], float]] = []

    def add_metric(self, labels: tuple[str, ...], value: float) -> None:
        self.values.append((labels, value))

    def metric(self) -> Metric:
        """The same family as prometheus-client builds it (for ``collect``)."""
        family = self.kind(self.name, self.doc, labels=self.labels)  # type: ignore[call-arg]
        for labels, value in self.values:
            family.add_metric(list(labels), value)  # type: ignore[attr-defined]
        return family

    def text(self) -> str:
        header = _header(self.kind is CounterMetricFamily, self.name, self.doc, tuple(self.labels))
        names = tuple(self.labels)
        texts = _label_texts(names)
        sample = self.sample
        lines = []
        for values, value in self.values:
            labels = texts.get(values)
            if labels is None:
                labels = texts[values] = _label_text(names, values)
            lines.append(f"{sample}{labels} {_WHOLE_TEXTS.get(value) or _value_text(value)}\n")
        return header + "".join(lines)


# Go's text of whole numbers seen so far: most values are 0 or 1 (states, success), a
# TTL or a count shared by many series. A lookup costs a fifth of a formatting. (Never
# -0.0, which equals 0.0 as a key: no dnsmon value is negative.)
_WHOLE_TEXTS: dict[float, str] = {}
_WHOLE_TEXTS_LIMIT = 100_000


def _value_text(value: float) -> str:
    text: str = floatToGoString(value)
    if float(value).is_integer() and len(_WHOLE_TEXTS) < _WHOLE_TEXTS_LIMIT:
        _WHOLE_TEXTS[value] = text
    return text


# Label texts by label names, then values; families with the same label names (success,
# duration and TTL of each name and server) share them.
_LABEL_TEXTS: dict[tuple[str, ...], dict[tuple[str, ...], str]] = {}
_LABEL_TEXTS_LIMIT = 1_000_000  # label sets come from the config; a reload may leave old ones


def _label_texts(names: tuple[str, ...]) -> dict[tuple[str, ...], str]:
    found = _LABEL_TEXTS.get(names)
    if found is None or len(found) > _LABEL_TEXTS_LIMIT:
        found = _LABEL_TEXTS[names] = {}
    return found


def _label_text(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    """``{name="…",server="…",type="A"}``: labels sorted by name and escaped as
    prometheus-client does ("" without labels)."""
    pairs = sorted(zip(names, values, strict=True))
    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return f"{{{labels}}}" if labels else ""


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


@functools.cache
def _header(counter: bool, name: str, doc: str, labels: tuple[str, ...]) -> str:
    """The HELP and TYPE lines, as prometheus-client writes them for an empty family."""
    kind = CounterMetricFamily if counter else GaugeMetricFamily
    return _text([kind(name, doc, labels=list(labels))])


def _text(families: Iterable[Metric]) -> str:
    """prometheus-client's rendering of these families."""

    class _Fixed(Collector):
        def collect(self) -> Iterator[Metric]:
            yield from families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed())
    return generate_latest(registry).decode()


class RoundCollector(Collector):
    """Builds every dnsmon_* family of the latest round; rendered once a round."""

    def __init__(self, view: RoundView, totals: Totals) -> None:
        self.view, self.totals = view, totals

    def families(self) -> Iterator[Metric | Series]:
        for family in (_probes, _servers, _names, _services, _clients, _learned, _zones, _causes,
                       _round):  # fmt: skip
            yield from family(self)

    def collect(self) -> Iterator[Metric]:
        for family in self.families():
            yield family.metric() if isinstance(family, Series) else family

    def texts(self) -> Iterator[str]:
        """The exposition, family by family: fast where it is large, prometheus-client's
        own rendering elsewhere, and the same text either way."""
        for family in self.families():
            yield family.text() if isinstance(family, Series) else _text([family])

    def text(self) -> str:
        return "".join(self.texts())


def _gauge(name: str, doc: str, labels: list[str]) -> Series:
    return Series(GaugeMetricFamily, name, doc, labels)


def _counter(name: str, doc: str, labels: list[str]) -> Series:
    return Series(CounterMetricFamily, name, doc, labels)


def _probes(self: RoundCollector) -> Iterator[Series]:
    labels = ["name", "type", "server"]
    success = _gauge("dnsmon_probe_success", "1 if the last answer was ok, else 0.", labels)
    duration = _gauge(
        "dnsmon_probe_duration_seconds", "Round-trip time of the last answer.", labels
    )
    ttl = _gauge("dnsmon_probe_ttl_seconds", "TTL of the last ok answer.", labels)
    for values, r in _one_per_server(self.view.graph, labelled(self.view.health)):
        if r.query.zone_soa:
            continue
        success.add_metric(values, 1.0 if r.ok else 0.0)
        if r.rtt_seconds is not None:
            duration.add_metric(values, r.rtt_seconds)
        if r.ttl is not None and r.ok:
            ttl.add_metric(values, float(r.ttl))
    totals = _counter("dnsmon_probe_results", "Answers by result since start.", [*labels, "result"])
    for key, count in self.totals.results.items():
        totals.add_metric(key, float(count))
    ede = _counter(
        "dnsmon_probe_ede",
        "Answers carrying this Extended DNS Error since start.",
        [*labels, "code"],
    )
    for key, count in self.totals.ede.items():
        ede.add_metric(key, float(count))
    yield from (success, duration, ttl, totals, ede)


def _learned(self: RoundCollector) -> Iterator[Series]:
    """What serve learned from the resolvers' traffic, where it learns (``learning``)."""
    learned = self.view.learned
    if learned is None:
        return
    unmapped = _gauge(
        "dnsmon_learned_unmapped_names",
        "Names the hosts of a service (backup empty) or backup resolved that the map lacks "
        "(a backup said to need no DNS: see dnsmon_learned_dns_free_backup_queries_total).",
        ["service", "backup"],
    )
    lacking: dict[tuple[str, str], int] = {}
    for f in learned.findings:
        if f["kind"] == "unmapped" and f["service"]:
            key = (f["service"], f["backup"] or "")
            lacking[key] = lacking.get(key, 0) + 1
    free = _counter(
        "dnsmon_learned_dns_free_backup_queries",
        "Queries from the hosts of a backup said to need no DNS (depends_on: []).",
        ["service", "backup"],
    )
    queries = learned.dns_free_queries
    for service in self.view.graph.config.services:
        unmapped.add_metric((service.name, ""), float(lacking.get((service.name, ""), 0)))
        for b in service.backups:
            key = (service.name, b.name)
            unmapped.add_metric(key, float(lacking.get(key, 0)))
            if not b.depends_on:  # said to need no DNS
                free.add_metric(key, float(queries.get(key, 0)))
    messages = _counter(
        "dnsmon_learned_messages",
        "dnstap messages received, by what became of them.",
        ["source", "result"],
    )
    for source in learned.sources:
        for result in ("kept", "foreign", "noise", "malformed"):
            messages.add_metric((source.source, result), float(getattr(source, result)))
    yield from (unmapped, free, messages)


def _one_per_server(
    graph: Graph, found: Iterable[tuple[tuple[str, str, str], ProbeResult]]
) -> Iterable[tuple[tuple[str, str, str], ProbeResult]]:
    """One answer per name and server: a machine asked both as a resolver and as the
    authority of its zone shows the worse of its two answers (its resolver's on a tie)."""
    if all(len(s.roles) == 1 for s in graph.config.servers):
        return found  # the common case: every answer has labels of its own
    chosen: dict[tuple[str, str, str], ProbeResult] = {}
    for values, r in found:
        kept = chosen.get(values)
        if kept is None or (kept.ok and not r.ok):
            chosen[values] = r
    return chosen.items()


def _servers(self: RoundCollector) -> Iterator[Metric | Series]:
    histogram = HistogramMetricFamily(
        "dnsmon_server_query_duration_seconds",
        "Round-trip time of answered queries per server.",
        labels=["server"],
    )
    for server, h in sorted(self.totals.servers.items()):
        histogram.add_metric([server], h.family_buckets(), h.total)
    up = _gauge(
        "dnsmon_server_up", "1 if the server answered anything this round.", ["server", "role"]
    )
    facts = self.view.facts or {}
    for spec in self.view.graph.config.servers:
        if spec.name in facts:  # a machine with both roles: a series for each
            for role in spec.roles:
                up.add_metric((spec.name, role.value), float(facts[spec.name].answered))
    yield from (histogram, up)


def _names(self: RoundCollector) -> Iterator[Metric | Series]:
    labels = ["name", "type"]
    healthy = _gauge(
        "dnsmon_name_healthy_servers",
        "Resolvers answering this name ok: its redundancy as clients see it "
        "(authoritative servers, for a name asked of no resolver).",
        labels,
    )
    servers = _gauge(
        "dnsmon_name_servers", "Resolvers asked for this name (or authoritative servers).", labels
    )
    consistent = _gauge(
        "dnsmon_name_answers_consistent", "1 if every ok server gives the same answers.", labels
    )
    consistent_since = _gauge(
        "dnsmon_name_answers_consistent_since_timestamp_seconds",
        "Unix time since when dnsmon_name_answers_consistent has had its current value.",
        labels,
    )
    memory = self.view.memory
    for (name, rdtype), health in self.view.health.names.items():
        healthy.add_metric((name, rdtype), float(health.healthy_servers))
        servers.add_metric((name, rdtype), float(health.servers))
        consistent.add_metric((name, rdtype), 1.0 if health.consistent else 0.0)
        since = memory.since.get(("consistency", f"{name} {rdtype}")) if memory else None
        if since is not None:
            consistent_since.add_metric((name, rdtype), since)
    yield from (healthy, servers, consistent, consistent_since)


def _services(self: RoundCollector) -> Iterator[Metric | Series]:
    graph = self.view.graph
    status = _gauge(
        "dnsmon_service_status",
        "State set: 1 on the current state.",
        ["service", "criticality", "status"],
    )
    runway = _gauge(
        "dnsmon_service_runway_seconds",
        "Seconds until the first needed cached answer expires while its zone's "
        "authoritative servers fail.",
        ["service"],
    )
    recovery = _gauge(
        "dnsmon_service_recovery_seconds",
        "Seconds until the last resolver still handing out a fixed fault for the service's "
        "names (a cached NXDOMAIN, an old answer) forgets it; only while known.",
        ["service"],
    )
    ends = _gauge(
        "dnsmon_service_runway_end_timestamp_seconds",
        "Unix time the runway ends (its round's start, in whole seconds, plus the runway): "
        "the one time both dnsmon's pushed alerts and the rules tell.",
        ["service"],
    )
    view = self.view
    started = int(view.started_at if view.started_at is not None else
                  view.finished_at - view.duration)  # fmt: skip
    back = recovery_seconds(self.view.causes)
    backup = _gauge(
        "dnsmon_backup_status",
        "State set: 1 on the current state.",
        ["service", "backup", "status"],
    )
    fate = _gauge(
        "dnsmon_backup_shared_fate",
        "1 for the level at which a backup shares DNS with its service.",
        ["service", "backup", "level"],
    )
    for name, service in self.view.health.services.items():
        criticality = graph.services[name].criticality.value
        for state in ServiceState:
            status.add_metric((name, criticality, state.value), float(service.state is state))
        if service.runway_seconds is not None:
            runway.add_metric((name,), float(service.runway_seconds))
            ends.add_metric((name,), float(started + service.runway_seconds))
        if (seconds := back.get(name)) is not None:
            recovery.add_metric((name,), float(seconds))
        for b in service.backups:
            for bstate in BackupState:
                backup.add_metric((name, b.name, bstate.value), float(b.state is bstate))
            if b.fate.level is not None:
                fate.add_metric((name, b.name, b.fate.level.value), 1.0)
    people = _gauge(
        "dnsmon_service_people",
        "State set: what the service's users should do (working, prepare, use_backups).",
        ["service", "state"],
    )
    for name, service in self.view.health.services.items():
        for wanted in People:
            people.add_metric((name, wanted.value), float(service.people is wanted))
    yield from (status, runway, ends, recovery, backup, fate, people, _service_since(self))


def _clients(self: RoundCollector) -> Iterator[Series]:
    """Each client group's lookups, replayed through its stub, and its view of services."""
    labels = ["client", "name", "type"]
    seconds = _gauge(
        "dnsmon_lookup_seconds",
        "Time the client group's stub takes to look the name up, replayed over the round.",
        labels,
    )
    result = _gauge(
        "dnsmon_lookup_result", "State set: the client group's lookup (ok, slow, fails).",
        [*labels, "result"],
    )  # fmt: skip
    for client, lookups in self.view.health.lookups.items():
        for (name, rdtype), found in lookups.items():
            seconds.add_metric((client, name, rdtype), found.seconds)
            for outcome in Lookup:
                result.add_metric(
                    (client, name, rdtype, outcome.value), float(found.result is outcome)
                )
    status = _gauge(
        "dnsmon_client_service_status",
        "State set: the service as the client group's lookups find it.",
        ["client", "service", "status"],
    )
    for name, service in self.view.health.services.items():
        for view in service.clients:
            for state in ServiceState:
                status.add_metric((view.client, name, state.value), float(view.state is state))
    yield from (seconds, result, status)


def _service_since(self: RoundCollector) -> Series:
    since = _gauge(
        "dnsmon_service_status_since_timestamp_seconds",
        "Unix time of the start of the round in which the service entered its current state.",
        ["service"],
    )
    memory = self.view.memory
    for name in self.view.health.services:
        found = memory.since.get(("service", name)) if memory else None
        if found is not None:
            since.add_metric((name,), found)
    return since


def oldest_first(causes: list[Cause], memory: Memory | None) -> list[Cause]:
    """Causes by the round they were first seen (stable: a newer cause never comes
    before an older one), then as dnsmon ranks them (most services first)."""
    since = memory.since if memory else {}
    return sorted(causes, key=lambda c: since.get(("cause", *c.key), math.inf))


def _causes(self: RoundCollector) -> Iterator[Metric | Series]:
    active = _gauge(
        "dnsmon_cause",
        "1 while this fault is found: the fewest faults that explain every failure.",
        ["kind", "target"],
    )
    info = _gauge(
        "dnsmon_cause_info",
        "1 per active cause, with its summary in plain words (for alert annotations).",
        ["kind", "target", "summary"],
    )
    by_service = _gauge(
        "dnsmon_service_cause",
        "Per service, each active cause that affects it; the value is the cause's place "
        "(1: the oldest; in one round, the one explaining the most services): alerts "
        "take the lowest as their fault label.",
        ["service", "kind", "target"],
    )
    memory = self.view.memory
    for place, cause in enumerate(oldest_first(self.view.causes, memory), 1):
        for service in cause.services:
            by_service.add_metric((service, *cause.key), float(place))
    for cause in self.view.causes:
        active.add_metric(cause.key, 1.0)
        since = memory.since.get(("cause", *cause.key)) if memory else None
        headline = cause.headline(clock_time(since) if since is not None else None)
        info.add_metric((*cause.key, headline), 1.0)
    yield from (active, info, by_service)


def _zones(self: RoundCollector) -> Iterator[Metric | Series]:
    serial = _gauge(
        "dnsmon_zone_serial", "SOA serial per authoritative server.", ["zone", "server"]
    )
    consistent = _gauge(
        "dnsmon_zone_serials_consistent",
        "1 if every authoritative server has one serial.",
        ["zone"],
    )
    dark = _gauge(
        "dnsmon_zone_dark", "1 while every authoritative server of the zone fails.", ["zone"]
    )
    reach = _gauge(
        "dnsmon_zone_reach",
        "1 if the resolver's never-cached canary under the zone reached the authority.",
        ["zone", "server"],
    )
    copies = _gauge(
        "dnsmon_zone_expiry_seconds",
        "Seconds until the first secondary's copy of the zone can expire, at the earliest, "
        "while its primary is silent or it stays behind (negative: overdue); only while known.",
        ["zone"],
    )
    signatures = _gauge(
        "dnsmon_zone_signature_expiry_seconds",
        "Seconds until the earliest signature the zone's authoritative servers hand out "
        "expires (negative: expired); only while known.",
        ["zone"],
    )
    for zone in self.view.health.zones.values():
        for server, value in zone.serials.items():
            if value is not None:
                serial.add_metric((zone.name, server), float(value))
        consistent.add_metric((zone.name,), 1.0 if zone.consistent else 0.0)
        dark.add_metric((zone.name,), 1.0 if zone.dark else 0.0)
        for server, reached in sorted(zone.reach.items()):
            reach.add_metric((zone.name, server), 1.0 if reached else 0.0)
        if zone.signatures_expire_in_seconds is not None:
            signatures.add_metric((zone.name,), float(zone.signatures_expire_in_seconds))
        if zone.expires_in_seconds is not None:
            copies.add_metric((zone.name,), float(zone.expires_in_seconds))
    yield from (serial, consistent, dark, reach, copies, signatures)


def _round(self: RoundCollector) -> Iterator[Metric | Series]:
    yield GaugeMetricFamily(
        "dnsmon_round_duration_seconds", "Wall time of the last round.", value=self.view.duration
    )
    yield GaugeMetricFamily(
        "dnsmon_last_round_timestamp_seconds",
        "Unix time the last round finished.",
        value=self.view.finished_at,
    )
    yield CounterMetricFamily(
        "dnsmon_round_overruns",
        "Rounds that took longer than the interval.",
        value=self.totals.overruns,
    )
    yield CounterMetricFamily("dnsmon_rounds", "Rounds run since start.", value=self.totals.rounds)
    yield GaugeMetricFamily(
        "dnsmon_metrics_render_cpu_seconds",
        "CPU seconds spent rendering the previous round's metrics.",
        value=self.totals.render_cpu_seconds,
    )


class ReloadCollector(Collector):
    """The config reload gauges, collected per scrape: a reload must show at once."""

    def __init__(self, state: ReloadState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "dnsmon_config_last_reload_successful",
            "1 if the last config load succeeded.",
            value=1.0 if self.state.successful else 0.0,
        )
        yield GaugeMetricFamily(
            "dnsmon_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful config load.",
            value=self.state.success_timestamp,
        )


@dataclass(frozen=True)
class Exposition:
    """One round's rendered metrics, kept gzip-compressed only, and what rendering cost.

    Prometheus always asks for gzip; keeping only the compressed form saves the memory of
    a plain copy (megabytes at scale), and the rare plain scrape decompresses it.
    """

    gzip_head: bytes
    compressor: Any  # zlib's compress object, paused after the round's part
    cpu_seconds: float

    def gzipped_with(self, tail: bytes) -> bytes:
        """One gzip stream of the round's part plus ``tail``, compressing only ``tail`` now."""
        compressor = self.compressor.copy()
        return self.gzip_head + compressor.compress(tail) + compressor.flush()

    def text_with(self, tail: bytes) -> bytes:
        """The plain exposition of the round's part plus ``tail``."""
        # The head is an unfinished stream (sync-flushed), so a streaming decompressor reads it.
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(self.gzip_head) + tail


def render(collector: RoundCollector) -> Exposition:
    """Render a collector once; scrapes serve the bytes until the next round."""
    started = time.thread_time()  # this thread: scrapes served meanwhile are not rendering
    compressor = zlib.compressobj(5, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    # Family by family: the whole plain text (10 MB at 5,000 names) is never held at once.
    parts = [compressor.compress(text.encode()) for text in collector.texts()]
    head = b"".join(parts) + compressor.flush(zlib.Z_SYNC_FLUSH)
    cpu = time.thread_time() - started
    collector.totals.render_cpu_seconds = cpu
    return Exposition(head, compressor, cpu)
