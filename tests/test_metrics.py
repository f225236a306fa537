"""The fast exposition is prometheus-client's exposition, byte for byte.

A round's large families are rendered from label prefixes kept across rounds; whatever
the labels hold (quotes, backslashes, newlines in a cause's summary), the text must be
exactly what prometheus-client's ``generate_latest`` writes for the same families, and
prometheus-client's own parser must read every sample back.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.judging import causes as causes_module
from monitor.judging.health import judge
from monitor.judging.history import History, state_keys
from monitor.outputs import metrics
from monitor.outputs.report import Memory
from monitor.probing.ede import Ede
from monitor.states import Result
from tests.rounds import CONFIG, DB, GRAPH, edit, healthy_round, on, silence


def collector_for(round_, totals: metrics.Totals | None = None) -> metrics.RoundCollector:
    health = judge(GRAPH, round_)
    found = causes_module.find(GRAPH, health, round_.results.values())
    history = History(0.0)
    memory = Memory(history.observe(round_.started_at, state_keys(health, found)), 0.0)
    totals = totals or metrics.Totals()
    totals.add(health, list(round_.results.values()))
    view = metrics.RoundView(GRAPH, health, list(round_.results.values()), time.time(), 0.2,
                             found, memory)  # fmt: skip
    return metrics.RoundCollector(view, totals)


def prometheus_text(collector: metrics.RoundCollector) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry).decode()


def test_a_healthy_round_renders_exactly_as_prometheus_client_does() -> None:
    collector = collector_for(healthy_round())
    assert collector.text() == prometheus_text(collector)


def test_a_broken_round_with_odd_labels_renders_exactly_the_same() -> None:
    round_ = silence(healthy_round(), "ns1", "ns2")
    edit(round_, on("resolver-b", name=DB[0]), result=Result.STALE, ede=(Ede(3),))
    collector = collector_for(round_)
    odd = causes_module.Cause(
        causes_module.CauseKind.OTHER, 'a "quoted"\\target', 'line one\nline "two" \\ end'
    )
    collector.view.causes.append(odd)
    text = collector.text()
    assert text == prometheus_text(collector)
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    [info] = [s for s in parsed["dnsmon_cause_info"].samples if s.labels["kind"] == "other"]
    assert info.labels["summary"] == 'line one\nline "two" \\ end'


def test_counters_accumulate_across_rounds_in_both_renderings() -> None:
    totals = metrics.Totals()
    collector_for(healthy_round(), totals)
    collector = collector_for(replace(healthy_round(), started_at=1030.0), totals)
    text = collector.text()
    assert text == prometheus_text(collector)
    line = next(line for line in text.splitlines()
                if line.startswith("dnsmon_probe_results_total{") and 'server="ns1"' in line
                and 'name="ehr-db.region.internal"' in line)  # fmt: skip
    assert line.endswith(" 2.0")


@given(st.lists(st.floats(min_value=0.0, max_value=10.0), max_size=60))
def test_the_round_trip_histogram_counts_what_prometheus_clients_histogram_counts(
    seconds: list[float],
) -> None:
    ours = metrics._Histogram()
    theirs = Histogram("rtt", "", buckets=metrics.BUCKETS, registry=CollectorRegistry())
    for value in seconds:
        ours.observe(value)
        theirs.observe(value)
    expected = [
        (s.labels["le"], s.value) for s in theirs.collect()[0].samples if s.name == "rtt_bucket"
    ]
    assert [(float(le), n) for le, n in ours.family_buckets()] == [
        (float(le), n) for le, n in expected
    ]
    assert (ours.count, ours.total) == pytest.approx((len(seconds), sum(seconds)))


def test_the_runway_end_and_each_services_causes_are_what_pushed_alerts_say() -> None:
    """One source: the rules' runway time and fault label come from the same numbers
    as dnsmon's own pushed alerts."""
    from monitor.outputs import alerts, report

    round_ = silence(healthy_round(ttl=250), "ns1", "ns2")
    round_.started_at = 1_790_000_000.4
    health = judge(GRAPH, round_)
    found = causes_module.find(GRAPH, health, round_.results.values())
    view = metrics.RoundView(GRAPH, health, list(round_.results.values()),
                             round_.started_at + 0.2, 0.2, found)  # fmt: skip
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(
            prometheus_text(metrics.RoundCollector(view, metrics.Totals())))
        for s in family.samples
    }  # fmt: skip
    built = report.build(CONFIG, GRAPH, health, round_.started_at, 0.2, round_.results.values(),
                         found)  # fmt: skip
    ehr = next(s for s in built["services"] if s["name"] == "ehr")
    end = samples[("dnsmon_service_runway_end_timestamp_seconds", (("service", "ehr"),))]
    assert end == 1_790_000_000 + ehr["runway_seconds"]
    started = report.epoch_of(built["started_at"])
    assert alerts.runway_end(started, ehr["runway_seconds"]) == time.strftime(
        "%H:%M UTC", time.gmtime(end)
    )
    ranks = {labels: v for (name, labels), v in samples.items() if name == "dnsmon_service_cause"}
    [first] = [dict(labels) for labels, rank in ranks.items()
               if dict(labels)["service"] == "ehr" and rank == 1.0]  # fmt: skip
    assert alerts.fault_of(built["causes"], "ehr") == {
        "fault": f"{first['kind']} {first['target']}"
    }
