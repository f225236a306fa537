"""learn on what real resolvers wrote (tests/data/learn/, made by tests/traffic.py from
real Unbound, BIND, Knot Resolver and PowerDNS; Zeek's and Windows DNS's by hand after
their documentation): each planted finding reported from every source that carries it,
and the YAML fragment, added to the config, quiets the next learn about it.

The clients: 127.90.0.7 is the EHR service's host, 127.90.1.7 its backup's (written as
needing no DNS), 127.91.0.1 a ward PC (a client group's network), 127.0.0.1 nobody's (the
test harness's readiness probe: a client that appears in no hosts or networks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from dnsmon_cli import dnsmon

DATA = Path(__file__).parent / "data" / "learn"
CONFIG = {
    "servers": [{"name": "resolver-a", "address": "127.0.0.53", "port": 5301}],
    "clients": [{"name": "wards", "resolvers": ["resolver-a"], "networks": ["127.91.0.0/24"]}],
    "names": [{"name": "ehr-db.region.internal"}, {"name": "lab.region.internal"}],
    "services": [{
        "name": "ehr", "hosts": ["127.90.0.7"],
        "depends_on": ["ehr-db.region.internal", "lab.region.internal"],
        "backups": [{"name": "ehr-copy", "hosts": ["127.90.1.7"], "depends_on": []}],
    }],
}  # fmt: skip
# file → (format, carries rcodes, carries CNAME chains)
SOURCES = {
    "unbound-client.dnstap": ("dnstap", True, True),
    "unbound-client-reordered.dnstap": ("dnstap", True, True),
    "bind-client.dnstap": ("dnstap", True, True),
    "kresd-client.dnstap": ("dnstap", True, True),
    "unbound-replies.log": ("unbound", True, False),
    "unbound-queryreply.log": ("unbound", True, False),
    "bind-query.log": ("bind-querylog", False, False),
    "bind-query-iso8601.log": ("bind-querylog", False, False),
    "pdns-recursor.log": ("powerdns", True, False),
    "pdns-recursor-legacy.log": ("powerdns", True, False),
    "zeek-dns.log": ("zeek-tsv", True, True),
    "zeek-dns.json": ("zeek-json", True, True),
    "windows-dns-debug.log": ("windows-debug", True, False),
}
WINDOW = ("--days", "3650")  # the samples were made once; their times stay put


def learn(config: Path, *files: str, fmt: str = "json", folder: Path = DATA) -> Any:
    run = dnsmon(config, "learn", *(a for f in files for a in ("--from", str(folder / f))),
                 *WINDOW, "--format", fmt)  # fmt: skip
    assert run.code in (0, 1, 2), run.stderr
    return run


def found(run: Any, kind: str) -> dict[tuple[str | None, str | None, str, str], dict]:
    return {(f["service"] or f["client"], f["backup"], f["name"], f["type"]): f
            for f in run.json["findings"] if f["kind"] == kind}  # fmt: skip


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The samples made again now, by the real resolvers running here (about 10 s)."""
    from traffic import make_samples

    folder = tmp_path_factory.mktemp("fresh")
    make_samples(folder)
    return folder


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_reports_what_it_carries(config: Path, source: str) -> None:
    holds_every_planted_finding(learn(config, source), source)


@pytest.mark.integration
@pytest.mark.parametrize("source", SOURCES)
def test_each_source_made_afresh_reports_what_it_carries(
    config: Path, fresh: Path, source: str
) -> None:
    holds_every_planted_finding(learn(config, source, folder=fresh), source)


def holds_every_planted_finding(run: Any, source: str) -> None:
    fmt, rcodes, chains = SOURCES[source]
    [stats] = run.json["sources"]
    assert stats["format"] == fmt
    assert stats["foreign"] >= 1  # the readiness probe from 127.0.0.1: nobody's, not kept
    assert stats["malformed"] == 0
    # The headline: the backup said to need no DNS resolves names, one through a CNAME.
    assert run.code == 2
    free = found(run, "dns_free_backup_resolves")
    assert ("ehr", "ehr-copy", "www.region.internal", "A") in free
    if chains:
        assert free[("ehr", "ehr-copy", "www.region.internal", "A")]["cnames"] == [
            "ehr-db.region.internal"
        ]
    # The service's names the map lacks (one reached through a CNAME into another zone).
    unmapped = found(run, "unmapped")
    assert {("ehr", None, "ehr-app.region.internal", "A"),
            ("ehr", None, "_ldap._tcp.region.internal", "SRV")} <= unmapped.keys()  # fmt: skip
    # A mapped name the service's host never asked.
    assert ("ehr", None, "lab.region.internal", "A") in found(run, "unused")
    # Noise told apart: the search-suffix expansion and the reverse lookups.
    noise = {key[2]: f["noise"] for key, f in found(run, "noise").items()}
    assert noise["ehr-db.region.internal.region.internal"] == "search_suffix"
    assert noise["16.1.20.127.in-addr.arpa"] == "reverse"
    # The ward PC's NXDOMAIN for a real-looking name: a dependency already broken,
    # where the log says so.
    broken = ("wards", None, "billing.region.internal", "A")
    assert (broken in found(run, "broken_dependency")) is rcodes


def test_rotated_and_gzipped_logs_read_as_one(config: Path) -> None:
    run = learn(config, "rotated/unbound.log.2.gz", "rotated/unbound.log.1",
                "rotated/unbound.log")  # fmt: skip
    assert [s["format"] for s in run.json["sources"]] == ["unbound"] * 3
    assert sum(s["kept"] for s in run.json["sources"]) == 18
    [ldap] = [f for f in run.json["findings"] if f["name"] == "_ldap._tcp.region.internal"]
    assert ldap["count"] == 3


def test_a_file_still_being_written_reads_to_its_last_whole_frame(config: Path) -> None:
    for cut in ("unbound-client-cut.dnstap", "bind-client-live.dnstap"):
        [stats] = learn(config, cut).json["sources"]
        assert stats["malformed"] == 0 and stats["messages"] > 0, cut


def test_the_fragment_quiets_the_next_learn(config: Path) -> None:
    every = list(SOURCES)
    fragment = yaml.safe_load(learn(config, *every, fmt="yaml").stdout)
    merged = yaml.safe_load(config.read_text())
    merged["names"] += fragment["names"]
    for entry in fragment["services"]:
        service = next(s for s in merged["services"] if s["name"] == entry["name"])
        service["depends_on"] = entry.get("depends_on", service["depends_on"])
        for backup in entry.get("backups", []):
            next(b for b in service["backups"] if b["name"] == backup["name"])["depends_on"] = (
                backup["depends_on"]
            )
    config.write_text(yaml.safe_dump(merged))
    again = learn(config, *every)
    lacking = ("unmapped", "dns_free_backup_resolves")
    assert not [f for f in again.json["findings"] if f["kind"] in lacking and f["service"]]
    assert again.code == 1  # still: lab.region.internal unused, the wards' own findings
