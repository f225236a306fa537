"""One probe round end to end: plan → probe → judge → report.

A round asks the plan, one canary per zone of every resolver, and the authoritative
servers of every zone a name's CNAME chain enters. Chains are learned from answers: a
monitor that runs rounds (``serve``, ``watch``) asks the known targets with everything
else; one that is new to a chain asks its targets in a second, short pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from monitor.config import Config
from monitor.judging import causes as causes_module
from monitor.judging import graph as graph_module
from monitor.judging import health as health_module
from monitor.judging.causes import Cause
from monitor.judging.clocks import ExpiryClock
from monitor.judging.graph import Graph
from monitor.judging.health import Health
from monitor.judging.history import History, state_keys
from monitor.judging.runway import RunwayClock
from monitor.outputs import report
from monitor.outputs.report import Memory
from monitor.probing import plan, software
from monitor.probing.plan import NameKey
from monitor.probing.probe import Prober, ProbeSettings
from monitor.probing.results import Round, ServerFacts, observed_chains, server_facts
from monitor.states import Software


@dataclass
class Outcome:
    """Everything one round produced, for every output to read."""

    round: Round
    health: Health
    report: dict[str, Any]
    causes: list[Cause] = field(default_factory=list)
    memory: Memory | None = None
    facts: dict[str, ServerFacts] = field(default_factory=dict)  # per server, as judged


def settings_of(config: Config) -> ProbeSettings:
    d = config.defaults
    return ProbeSettings(d.timeout, d.attempts, d.transport, d.max_qps_per_server)


class Monitor:
    """A config with its graph and prober, ready to run rounds.

    ``continuous`` monitors (``serve``, ``watch``) anchor cache runways across rounds;
    a single ``check`` judges what its one round shows.
    """

    def __init__(self, config: Config, continuous: bool = False) -> None:
        self.config = config
        self.graph: Graph = graph_module.build(config)
        self.prober = Prober(settings_of(config))
        self.chains: dict[NameKey, tuple[str, ...]] = {}
        self.clock = RunwayClock() if continuous else None
        self.expiry = ExpiryClock() if continuous else None
        self.history = History(time.time()) if continuous else None
        # Client questions (without EDNS) whose answers were too large for plain DNS in
        # an earlier round: asked with everything else, not in a second pass.
        self.large: dict[tuple[str, str, str], plan.Query] = {}
        # What servers without a software: key said they run (version.bind), asked once
        # a command for them is needed.
        self.software: dict[str, Software | None] = {}
        # How many names each of this config's names stands for, where it was reduced
        # to one name per class (an ``impact`` summary): causes count them so.
        self.weights: dict[str, int] = {}

    def succeed(self, previous: Monitor) -> None:
        """Carry over what rounds have learned when a reload replaces ``previous``: CNAME
        chains, runway and expiry anchors, and servers known to refuse EDNS."""
        self.chains.update(previous.chains)
        self.large.update(previous.large)
        self.software.update(previous.software)
        if previous.clock is not None:
            self.clock = previous.clock
        if previous.expiry is not None:
            self.expiry = previous.expiry
        if previous.history is not None:
            self.history = previous.history
        self.prober.no_edns.update(previous.prober.no_edns)

    def queries_for(self, services: list[str] | None) -> list[plan.Query]:
        """dnsmon's own questions, the canaries, and the questions clients ask their own
        way (from their source address, or known from earlier rounds to need it)."""
        layout, clients = self.graph.layout, self.graph.client_plan
        client_queries = clients.always() + list(self.large.values())
        if not services:
            return layout.build() + layout.canaries() + client_queries
        keys = {k for name in services for k in self.graph.needs(name)[0]}
        names = [n for k, n in self.graph.names.items() if k in keys]
        mine = [q for q in client_queries if (q.name, q.type) in keys]
        return layout.build(names) + layout.canaries(layout.zones_of(names)) + mine

    def run_round(self, services: list[str] | None = None, spread: float = 0.0) -> Outcome:
        """Probe now and judge; ``services`` limits the round to what they need."""
        started = time.time()
        clock = time.monotonic()
        results = Round(started)
        queries = self.queries_for(services)
        asked = {q.key for q in queries}
        wanted = {(q.name, q.type) for q in queries if q.purpose is plan.Purpose.NAME}
        known = {k: c for k, c in self.chains.items() if k in wanted}
        queries += self.graph.layout.chain_queries(known, asked)
        for result in self.prober.run(queries, spread):
            results.add(result)
        self._learn_chains(results, wanted)
        learned = {k: c for k, c in self.chains.items() if k in wanted}
        second = self.graph.layout.chain_queries(learned, asked)
        second += self._too_large(results, wanted, asked)
        for result in self.prober.run(second):
            results.add(result)
        self._learn_chains(results, wanted)
        results.chains = {k: c for k, c in self.chains.items() if k in wanted}
        results.duration_seconds = time.monotonic() - clock
        return self.judge(results, services)

    def _too_large(
        self, results: Round, wanted: set[NameKey], asked: set[tuple[str, str, str]]
    ) -> list[plan.Query]:
        """Client questions without EDNS whose answer this round was too large for plain
        DNS and that were not asked yet; remembered for the next rounds."""
        found = self.graph.client_plan.where_large(results.results.values())
        found = [q for q in found if (q.name, q.type) in wanted and q.key not in asked]
        still = {k: q for k, q in self.large.items()
                 if (r := results.results.get(k)) is not None and r.truncated}  # fmt: skip
        self.large = {**still, **{q.key: q for q in found}}
        return found

    def _learn_chains(self, results: Round, wanted: set[NameKey]) -> None:
        """What this round's answers show replaces what was known; silence keeps it."""
        self.chains.update(observed_chains(results.results.values(), wanted))

    def judge(
        self, results: Round, services: list[str] | None = None, names: bool = True
    ) -> Outcome:
        """States, causes and, for a running monitor, since when: the whole report
        (without each name's answers unless ``names``)."""
        health = health_module.judge(
            self.graph, results, services or None, self.clock, expiry=self.expiry
        )
        health.weights = self.weights
        answers = list(results.results.values())
        facts = server_facts(answers)
        causes = causes_module.find(self.graph, health, answers, facts, self.software)
        unknown = causes_module.unknown_software(self.graph, causes, self.software)
        if unknown:  # rare: a cache to flush on a server whose software nobody said
            timeout = self.config.defaults.timeout
            self.software |= {s: software.ask(self.config.server(s), timeout) for s in unknown}
            causes = causes_module.find(self.graph, health, answers, facts, self.software)
        memory = None
        if self.history is not None:
            since = self.history.observe(results.started_at, state_keys(health, causes))
            memory = Memory(since, self.history.started_at)
        built = report.build(
            self.config, self.graph, health, results.started_at, results.duration_seconds,
            answers, causes, memory, facts, names,
        )  # fmt: skip
        return Outcome(results, health, built, causes, memory, facts)
