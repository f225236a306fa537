"""``dnsmon demo``: the whole product offline, with a replayed outage, ending by itself.

The story: someone on a fresh machine runs ``dnsmon demo``, opens the status page and
the metrics while ns1 and ns2 go dark, watches the services fall once the caches run
out, and sees everything recover. No DNS software is needed.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import yaml
from dnsmon_cli import COMMAND
from rich.console import Console
from servers import free_port

from monitor.config import parse
from monitor.demo import replay, resolver
from monitor.judging import lint

DURATION = 24
GRACE = 15
SITE = "dc-north"  # from the example probes.yaml the demo ships
EHR_DOWN = re.compile(r'^dnsmon_service_status\{[^}]*service="ehr"[^}]*status="down"[^}]*\} 1\.0$',
                      re.MULTILINE)  # fmt: skip
TIMING = {"timeout_overrun", "pacing_overrun"}  # lint's findings of rounds that cannot fit


@dataclass
class Seen:
    """What the status endpoints showed while the demo ran."""

    page: str = ""
    reports: list[dict[str, Any]] = field(default_factory=list)
    ehr_down_in_metrics: bool = False
    metric_names: set[str] = field(default_factory=set)
    rounds: float = 0.0  # dnsmon_rounds_total, as last scraped
    overruns: float = 0.0  # dnsmon_round_overruns_total, as last scraped


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except (urllib.error.URLError, OSError):
        return None  # not listening yet, or already gone


def poll(base: str, proc: subprocess.Popen[str], seen: Seen) -> None:
    """Read /, /api/status and /metrics until the demo ends."""
    while proc.poll() is None:
        if SITE not in seen.page:  # before the first round it says it is waiting
            seen.page = fetch(f"{base}/") or ""
        status = fetch(f"{base}/api/status")
        if status:
            seen.reports.append(json.loads(status))
        metrics = fetch(f"{base}/metrics")
        if metrics:
            seen.ehr_down_in_metrics |= bool(EHR_DOWN.search(metrics))
            seen.metric_names |= set(re.findall(r"^(dnsmon_\w+)", metrics, re.MULTILINE))
            seen.rounds = _sample(metrics, "dnsmon_rounds_total", seen.rounds)
            seen.overruns = _sample(metrics, "dnsmon_round_overruns_total", seen.overruns)
        time.sleep(0.25)


def _sample(metrics: str, name: str, default: float) -> float:
    found = re.search(rf"^{name} (\S+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else default


def service(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["services"] if s["name"] == name)


def test_demo_replays_an_outage_and_ends_by_itself():
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [*COMMAND, "demo", "--duration", str(DURATION), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = Seen()
    try:
        started = time.monotonic()
        poll(base, proc, seen)
        stdout, stderr = proc.communicate(timeout=DURATION + GRACE)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 0, stderr
    assert elapsed < DURATION + GRACE
    narration = " ".join(stdout.split())  # rich wraps long lines at 80 columns

    assert "<html" in seen.page.lower() and SITE in seen.page
    assert seen.reports, f"/api/status never answered; output:\n{stdout}{stderr}"
    assert all(r["site"] == SITE for r in seen.reports)
    assert service(seen.reports[0], "ehr")["status"] == "up"

    # ns1 down: degraded. ns1 and ns2 dark: the caches hide it for a while (a runway; with
    # 2 s rounds and an 8 s TTL a round may or may not catch it), then ehr falls.
    ehr = [service(r, "ehr") for r in seen.reports]
    states = [s["status"] for s in ehr]
    assert "degraded" in states and "down" in states, states
    first_down = states.index("down")
    assert all(s["runway_seconds"] is None for s in ehr if s["status"] == "up")
    assert seen.ehr_down_in_metrics
    assert {
        "dnsmon_service_status",
        "dnsmon_probe_success",
        "dnsmon_zone_serial",
    } <= seen.metric_names
    # …and after the rollback it comes back.
    assert any(state != "down" for state in states[first_down:]), states
    # A demo shows a healthy monitor: its rounds fit their interval while ns1 is silent
    # (one may overrun on a machine busy with other work).
    assert seen.rounds >= 8 and seen.overruns <= 1, (seen.rounds, seen.overruns)

    for step in (
        "ns1, the primary, is taken down",
        "ns2's copy of the zone expires",
        "Caches have expired",
        "rolled back",
        "demo finished",
    ):
        assert step in narration, f"{step!r} not narrated:\n{stdout}"
    assert (
        narration.index("ns1, the primary, is taken down")
        < narration.index("rolled back")
        < narration.index("demo finished")
    )
    assert "degraded:" in narration and "down:" in narration
    # The primary's upgrade as a clock: ns2's copy counted down, then named expired, in
    # plain words; and what still works when the services go down.
    counted = [
        z["expires_in_seconds"]
        for r in seen.reports
        for z in r["zones"]
        if z["name"] == "region.internal" and z["expires_in_seconds"] is not None
    ]
    assert counted, counted  # a 24 s demo leaves it a round or two, at 0 to 3 s
    assert "the copies on ns2 " in narration
    assert "cause: ns2's copy of region.internal expired" in narration
    assert "still working: ehr → paper-forms" in narration

    # The hidden dependency: the map says paper-forms needs no DNS; its print server's
    # lookups, seen in the resolvers' dnstap, say otherwise, live and in `learn` after.
    learned = [f for r in seen.reports for f in r.get("learned", {}).get("findings", [])]
    headline = [f for f in learned if f["kind"] == "dns_free_backup_resolves"]
    assert {(f["service"], f["backup"], f["name"]) for f in headline} == {
        ("ehr", "paper-forms", "wardlist.region.internal")}, learned  # fmt: skip
    assert headline[0]["cnames"] == ["ehr-ro.region.internal"]
    assert any(f["kind"] == "noise" and f["noise"] == "search_suffix" for f in learned)
    assert "dnsmon_learned_dns_free_backup_queries_total" in seen.metric_names
    assert "learned from the resolvers' dnstap: a backup said to need no DNS uses it" in narration
    assert "cannot resolve wardlist.region.internal" in narration
    assert "paper-forms (by the map; its hosts use DNS)" in narration
    offline = narration[narration.index("dnsmon learn --from resolver-a.dnstap") :]
    assert "exits 2" in offline and "SERVFAIL" in offline
    assert "depends_on: [wardlist.region.internal]" in offline
    assert narration.index("rolled back") < narration.index("dnsmon learn --from")
    assert all(len(line) < 100 for line in stdout.splitlines()), stdout
    assert "Traceback" not in stderr


def test_the_demos_rounds_fit_their_interval_while_a_server_is_silent() -> None:
    """The config the demo runs passes its own lint's timing checks: a query to a silent
    server is given up well within the interval, and the pace fits every server's queries."""
    demo = replay.Demo("127.0.0.1:0", DURATION, Console(file=io.StringIO()))
    try:
        config = parse(yaml.safe_dump(demo.start_dns()))
    finally:
        demo._stop_dns()
    timing = [f for f in lint.findings(config) if f["kind"] in TIMING]
    assert timing == []
    d = config.defaults
    assert d.timeout * d.attempts <= d.interval / 2
    assert resolver.UPSTREAM_TIMEOUT_SECONDS * 2 < d.timeout  # the resolvers answer first
