"""One probe round end to end: plan → probe → judge → report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from monitor.config import Config
from monitor.judging import graph as graph_module
from monitor.judging import health as health_module
from monitor.judging.graph import Graph
from monitor.judging.health import Health
from monitor.outputs import report
from monitor.probing import plan
from monitor.probing.probe import Prober, ProbeSettings
from monitor.probing.results import Round


@dataclass
class Outcome:
    """Everything one round produced, for every output to read."""

    round: Round
    health: Health
    report: dict[str, Any]


def settings_of(config: Config) -> ProbeSettings:
    d = config.defaults
    return ProbeSettings(d.timeout, d.attempts, d.transport, d.max_qps_per_server)


class Monitor:
    """A config with its graph and prober, ready to run rounds."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.graph: Graph = graph_module.build(config)
        self.prober = Prober(settings_of(config))

    def queries_for(self, services: list[str] | None) -> list[plan.Query]:
        if not services:
            return self.graph.layout.build()
        keys = {k for name in services for k in self.graph.needs(name)[0]}
        return self.graph.layout.build([n for k, n in self.graph.names.items() if k in keys])

    def run_round(self, services: list[str] | None = None, spread: float = 0.0) -> Outcome:
        """Probe now and judge; ``services`` limits the round to what they need."""
        started = time.time()
        clock = time.monotonic()
        results = Round(started)
        for result in self.prober.run(self.queries_for(services), spread):
            results.add(result)
        results.duration_seconds = time.monotonic() - clock
        return self.judge(results, services)

    def judge(self, results: Round, services: list[str] | None = None) -> Outcome:
        health = health_module.judge(self.graph, results.results, services or None)
        built = report.build(
            self.config, self.graph, health, results.started_at, results.duration_seconds
        )
        return Outcome(results, health, built)
