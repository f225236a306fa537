"""The demo's hidden dependency, and how learning from the resolvers' traffic finds it.

The example map says the paper-forms backup of the record needs no DNS. Its ward-list
print server fetches the list through ``wardlist.region.internal``, an alias of the
record's read-only copy: the same zone as the record, so one fault takes both. The demo's
resolvers send dnstap to ``serve`` (``learning.dnstap``), which reports it live; at the
end ``dnsmon learn`` reads the same traffic from the resolvers' dnstap files and prints
the fragment to add.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.config import load
from monitor.demo.authoritative import DnsServer
from monitor.demo.dnstap import Tap
from monitor.demo.hosts import PRINT_SERVER, Hosts
from monitor.judging import graph as graph_module
from monitor.judging import learned
from monitor.learning.learner import Learner
from monitor.outputs.learned import finding_line, fragment

HEADLINE = "dns_free_backup_resolves"


class LearningStory:
    """Taps on the resolvers, the region's hosts asking, and what to say of it."""

    def __init__(self, folder: Path, interval: float) -> None:
        self.folder = folder
        self.interval = interval
        self.taps: dict[str, Tap] = {}
        self.hosts: Hosts | None = None
        self._told: set[tuple[str, str, str]] = set()
        self.uses_dns: set[tuple[str, str]] = set()  # (service, backup) said to need none
        self._told_failing = False

    def configure(self, config: dict[str, Any], resolvers: dict[str, DnsServer]) -> None:
        """Each resolver sends dnstap to serve's socket and its own file."""
        socket_path = self.folder / "dnstap.sock"
        config["learning"] = {"dnstap": [f"unix:{socket_path}"],
                              "state": str(self.folder / "learned.json")}  # fmt: skip
        for name, server in resolvers.items():
            self.taps[name] = Tap(socket_path, self.folder / f"{name}.dnstap")
            server.tap = self.taps[name].answered

    def start(self, resolver: DnsServer) -> None:
        """The hosts start asking ``resolver`` (the wards' first)."""
        self.hosts = Hosts((resolver.address, resolver.port), self.interval)
        self.hosts.start()

    def stop(self) -> None:
        """The hosts stop; each tap sends STOP and closes its file."""
        if self.hosts is not None:
            self.hosts.stop()
        for tap in self.taps.values():
            tap.close()

    def news(self, report: dict[str, Any]) -> list[str]:
        """What a round adds: a backup said to need no DNS that uses it, once each, and
        when that backup's host cannot resolve its name any more."""
        said = []
        for f in report.get("learned", {}).get("findings", []):
            key = (f["service"], f["backup"], f["name"])
            if f["kind"] == HEADLINE and key not in self._told:
                self._told.add(key)
                self.uses_dns.add((f["service"], f["backup"]))
                said.append(
                    "learned from the resolvers' dnstap: a backup said to need no DNS uses "
                    f"it. {finding_line(f)}"
                )
        failing = self.hosts.failing(PRINT_SERVER) if self.hosts is not None else {}
        if failing and not self._told_failing:
            self._told_failing = True
            name, outcome = next(iter(failing.items()))
            said.append(
                f"{PRINT_SERVER.label} cannot resolve {name} ({outcome}): the printed ward "
                "list of paper-forms, the backup the map says needs no DNS, fails with ehr."
            )
        return said

    def offline(self, config_path: Path) -> tuple[str, str]:
        """``dnsmon learn`` over the resolvers' dnstap files: what it says, and the
        fragment it prints with ``--format yaml``."""
        config = load(str(config_path))
        learner = Learner(config)
        files = [tap.capture.name for tap in self.taps.values()]
        stats = learner.read_files(files)
        graph = graph_module.build(config)
        found = learned.findings(graph, learner.learned, days=7)
        headline = [f for f in found if f["kind"] == HEADLINE]
        messages = sum(s.messages for s in stats)
        said = [
            f"dnsmon learn --from {' '.join(Path(f).name for f in files)} (the resolvers' "
            f"dnstap files, {messages:,} messages) exits {learned.exit_code(found)}."
        ]
        for f in headline:
            said.append(f"{finding_line(f)}.{_zone_shared(graph, f)}")
        said.append("It prints what to add to probes.yaml (--format yaml):")
        summary = " ".join(said)
        return summary, fragment(graph, found)


def _zone_shared(graph: graph_module.Graph, finding: dict[str, Any]) -> str:
    """Whether a name a "no DNS" backup uses is in a zone its service needs too."""
    zone = graph.fate_zone(finding["name"])
    service = finding["service"]
    if zone not in {graph.fate_zone(name) for name, _ in graph.service_deps(service).names}:
        return ""
    return (f" {finding['name']} is in {zone}, as {service}'s names are: one fault there "
            "takes the service and this backup together.")  # fmt: skip
