"""The clocks, read from real servers: signatures that expire, counted down from the
authoritative servers' own answers, and a zone whose signatures have expired named as
DNSSEC, not as an authority the resolvers cannot reach.

Knot serves zones signed here (tests/signing.py) with lifetimes the test chooses; Unbound
validates them with no skew allowed, as a validator with its skew spent would.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from dnsmon_cli import check, services
from servers import Knot, StartServer, Unbound
from signing import sign

pytestmark = pytest.mark.integration

TOLERANCE = 15  # seconds: a countdown against the expiration written into the signatures
SIGNED, EXPIRED = "sig.test", "bad.test"


def zone(origin: str) -> str:
    return (f"$ORIGIN {origin}.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n"
            "  IN NS ns1\nns1 IN A 127.0.0.1\napp IN A 127.30.0.1\n")  # fmt: skip


def probes(tmp_path: Path, resolver: Unbound, authority: Knot) -> Path:
    document: dict[str, Any] = {
        "version": 1, "site": "clock-test",
        "defaults": {"interval": "10s", "timeout": "1s", "attempts": 2, "warn_before": "1h"},
        "servers": [
            {"name": "resolver-a", "address": resolver.address, "port": resolver.port},
            {"name": "ns1", "address": authority.address, "port": authority.port,
             "role": "authoritative", "zones": [SIGNED, EXPIRED]},
        ],
        "names": [{"name": f"app.{SIGNED}"}, {"name": f"app.{EXPIRED}"}],
        "services": [{"name": "signed", "depends_on": [f"app.{SIGNED}"]},
                     {"name": "expired", "depends_on": [f"app.{EXPIRED}"]}],
    }  # fmt: skip
    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_signatures_count_down_and_expired_ones_are_dnssec(
    tmp_path: Path, start_server: StartServer
) -> None:
    soon = sign(SIGNED, zone(SIGNED), tmp_path / "soon", expires_in=150)
    gone = sign(EXPIRED, zone(EXPIRED), tmp_path / "gone", expires_in=-60)
    authority = start_server(Knot({SIGNED: soon.text, EXPIRED: gone.text}))
    resolver = start_server(Unbound({SIGNED: [authority], EXPIRED: [authority]},
                                    trust_anchors=[soon.anchor, gone.anchor]))  # fmt: skip
    asked = time.time()
    code, report = check(probes(tmp_path, resolver, authority))
    zones = {z["name"]: z for z in report["zones"]}
    truth = soon.expires_at - asked
    assert abs(zones[SIGNED]["signatures_expire_in_seconds"] - truth) <= TOLERANCE
    assert zones[EXPIRED]["signatures_expire_in_seconds"] < 0
    # The clock: a cause with the time left, and a warning, while everything still works.
    causes = {(c["kind"], c["target"]): c for c in report["causes"]}
    clock = causes[("signatures_expiring", SIGNED)]
    assert abs(clock["seconds"] - truth) <= TOLERANCE and clock["services"] == ["signed"]
    assert any(w.startswith(f"zone {SIGNED}: its signatures expire in") for w in report["warnings"])
    assert services(report)["signed"] == "up"
    # Expired: Unbound answers SERVFAIL (EDE 6) while Knot answers well. DNSSEC, not reach.
    assert services(report)["expired"] == "down" and code == 2
    bogus = causes[("dnssec", EXPIRED)]
    assert "signatures expired" in bogus["summary"] and "expired" in bogus["services"]
    assert ("authority_unreachable", EXPIRED) not in causes
