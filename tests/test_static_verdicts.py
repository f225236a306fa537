"""``lint`` and ``impact`` say the same on a varied config as they did before they were
made faster: every finding, and every service's, backup's, name's and cause's verdict
for several what-ifs, held to a recorded file.

The config is generated (seeded, so it is the same each run) to reach what a small
example does not: names in four zones on shared and separate authoritative servers, a
zone with one server, names whose CNAME chains lead into other zones, names asked of one
resolver, a resolver serving stale, AAAA, TXT and MX names, services needing services,
and backups sharing each level of fate. A change that means to alter a verdict records
the file again (``DNSMON_RECORD=1 pytest tests/test_static_verdicts.py``) and says why.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from dnsmon_cli import dnsmon

RECORDED = Path(__file__).parent / "recorded" / "static_verdicts.json"
ZONES = {"a.internal": ["ns1", "ns2"], "b.internal": ["ns1", "ns2"],
         "c.internal": ["ns3", "ns4"], "d.internal": ["ns5"]}  # fmt: skip
WHAT_IFS = [
    ["server:ns1"],
    ["server:ns1", "server:ns2"],
    ["zone:c.internal"],
    ["server:ns5"],
    ["server:resolver-0"],
    ["name:h5.b.internal", "server:ns3"],
]


def varied_config(services: int = 80, names: int = 240, seed: int = 11) -> dict[str, Any]:
    """A valid probes.yaml as data: the same for the same arguments."""
    rng = random.Random(seed)
    servers: list[dict[str, Any]] = [
        {"name": f"resolver-{i}", "address": "127.0.0.1", "port": 20000 + i} for i in range(4)
    ]
    servers[3]["serve_stale"] = "1h"
    for ns in sorted({s for owners in ZONES.values() for s in owners}):
        zones = [z for z, owners in ZONES.items() if ns in owners]
        servers.append({"name": ns, "address": "127.0.0.1", "port": 21000 + int(ns[2:]),
                        "role": "authoritative", "zones": zones})  # fmt: skip
    zone_names = list(ZONES)
    entries = [_name(i, zone_names[i % 4], rng) for i in range(names)]
    for i, entry in enumerate(entries[:names]):
        target = entries[(i + 1) % names]
        if i % 13 == 5 and target["type"] == "A":
            # A CNAME into the next zone, listed as a CNAME with its target and as the A
            # clients ask for: the A's chain, and so its zones, are known from the config.
            entry.update(type="A", expect=target.get("expect"))
            if entry["expect"] is None:
                del entry["expect"]
            entries.append({"name": entry["name"], "type": "CNAME", "expect": [target["name"]]})
    listed = list(dict.fromkeys(e["name"] for e in entries))
    service_list = [_service(s, listed, rng) for s in range(services)]
    return {"version": 1, "site": "golden", "servers": servers, "names": entries,
            "services": service_list}  # fmt: skip


def _name(i: int, zone: str, rng: random.Random) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": f"h{i}.{zone}", "type": "A",
                             "expect": [f"127.40.{i // 200}.{i % 200 + 1}"]}  # fmt: skip
    if i % 7 == 3:
        entry.update(type="AAAA", expect=[f"fd00::{i:x}"])
    elif i % 11 == 4:
        entry.update(type="TXT", expect=[f"v=test{i}"])
    elif i % 23 == 6:
        entry.update(type="MX", expect=[f"10 mail{i}.{zone}."])
    if i % 17 == 2:
        entry["servers"] = ["resolver-0"]
    if rng.random() < 0.05:
        del entry["expect"]
    return entry


def _service(s: int, listed: list[str], rng: random.Random) -> dict[str, Any]:
    if s % 10 == 7:  # a backup in another zone on the same authoritative servers
        in_a = [n for n in listed if n.endswith(".a.internal")]
        in_b = [n for n in listed if n.endswith(".b.internal")]
        return {"name": f"svc{s}", "depends_on": rng.sample(in_a, 2),
                "backups": [{"name": "b0", "depends_on": [rng.choice(in_b)]}]}  # fmt: skip
    deps = rng.sample(listed, rng.randint(1, 4))
    if s and rng.random() < 0.4:
        deps.append(f"service:svc{rng.randrange(s)}")
    backups = []
    for b in range(rng.randint(0, 3)):
        kind = rng.choice(["same", "other", "none"])
        backup_deps = [deps[0]] if kind == "same" and not deps[0].startswith("service:") else []
        if kind == "other":
            backup_deps = rng.sample(listed, rng.randint(1, 2))
        backups.append({"name": f"b{b}", "depends_on": backup_deps,
                        "instructions": "by hand" if not backup_deps else ""})  # fmt: skip
    return {"name": f"svc{s}", "criticality": ["critical", "high", "normal"][s % 3],
            "depends_on": deps, "backups": backups}  # fmt: skip


def _impact_verdicts(report: dict[str, Any]) -> dict[str, Any]:
    """What an impact says, without the imagined answers' detail: both moments, and
    the worse one in full."""
    return {
        "moments": [[m["moment"], m["status"], m["counts"]] for m in report["moments"]],
        "status": report["status"],
        "services": [
            {key: service[key] for key in ("name", "status", "reasons", "runway_seconds")}
            | {
                "backups": [
                    {k: b[k] for k in ("name", "status", "shared_fate", "reasons")}
                    for b in service["backups"]
                ]
            }  # fmt: skip
            for service in report["services"]
        ],
        # Names not healthy, in one line each: healthy ones are every other listed name.
        "names": [
            f"{n['name']} {n['type']} {n['status']} {n['healthy_servers']}/{n['servers']}"
            f"{'' if n['consistent'] else ' inconsistent'}: "
            + " ".join(
                sorted(f"{r['server']}={r['result']}" for r in n["results"] if r["result"] != "ok")
            )
            for n in report["names"]
            if n["status"] != "healthy"
        ],  # fmt: skip
        "causes": [
            [c["kind"], c["target"], c["summary"], c["services"]] for c in report["causes"]
        ],  # fmt: skip
        "zones": [[z["name"], z["dark"], z["failing_servers"]] for z in report["zones"]],
    }


def _verdicts(config: Path) -> dict[str, Any]:
    lint = dnsmon(config, "lint", "--format", "json")
    assert lint.code in (0, 1), lint.stderr
    found: dict[str, Any] = {"lint": {"exit": lint.code, "findings": lint.json["findings"]}}
    for failures in WHAT_IFS:
        args = [a for f in failures for a in ("--fail", f)]
        run = dnsmon(config, "impact", *args, "--format", "json", "--detail")
        assert run.code in (0, 1, 2), run.stderr
        found[" ".join(failures)] = {"exit": run.code, **_impact_verdicts(run.json)}
    return found


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    config = tmp_path_factory.mktemp("golden") / "probes.yaml"
    config.write_text(yaml.safe_dump(varied_config(), sort_keys=False))
    found = json.loads(json.dumps(_verdicts(config)))  # as the recorded file reads back
    if os.environ.get("DNSMON_RECORD"):
        RECORDED.parent.mkdir(exist_ok=True)
        RECORDED.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    return found


@pytest.mark.parametrize("part", ["lint", *(" ".join(f) for f in WHAT_IFS)])
def test_lint_and_impact_say_what_they_said_before(verdicts: dict[str, Any], part: str) -> None:
    recorded = json.loads(RECORDED.read_text())
    assert verdicts[part] == recorded[part]


def test_the_varied_config_has_chains_across_zones() -> None:
    from monitor.config import parse
    from monitor.judging.graph import build

    graph = build(parse(yaml.safe_dump(varied_config())))
    crossing = [k for k in graph.static_chains if len(graph.zones_along(k)) > 1]
    assert len(crossing) >= 10


def test_the_varied_config_reaches_every_level_of_shared_fate(verdicts: dict[str, Any]) -> None:
    """The file is worth holding to only if the config exercises what it claims to."""
    levels = {b["shared_fate"] for s in verdicts["server:ns1"]["services"] for b in s["backups"]}
    assert levels == {"name", "zone", "authoritative", "servers", None}
    states = {s["status"] for part in WHAT_IFS for s in verdicts[" ".join(part)]["services"]}
    assert states == {"up", "degraded", "down"}
    kinds = {f["kind"] for f in verdicts["lint"]["findings"]}
    assert len(kinds) >= 3, kinds
