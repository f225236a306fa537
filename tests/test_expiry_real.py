"""Secondaries' copies as a clock, read from real zone transfers: a Knot primary, NSD and
BIND secondaries (tests/secondaries.py; SOA refresh 30 s, retry 10 s, expire 120 s), an
Unbound resolver, and ``dnsmon serve`` rounds every INTERVAL seconds.

The primary is stopped a few seconds after a fresh transfer; each secondary answers
SERVFAIL (NSD with EDE 24) EXPIRE seconds after that transfer, measured here by asking
them several times a second. dnsmon's countdown (a round's start plus the zone's
``expires_in_seconds``) must predict that moment no later than it comes (it counts from
its last agreeing round less one refresh: the earliest the copy can expire) and at most
one refresh early; the zone is ``zone_expiring`` while it counts and ``zone_expired``
after, never an unreachable or dark authority. One zone lists its primary in its NS
records (and the resolver asks it); the other's primary is hidden (only dnsmon's config
names it). Both run out together, in one run of about two and a half minutes.

A primary whose serial went backwards is ``serial_regressed``: the secondaries measured
here keep their higher serial (until their copy expires: then both take the lower one
at once, see tests/secondaries.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dns.exception
import dns.rcode
import pytest
import yaml
from dnsmon_cli import check
from exporter import Exporter
from secondaries import EXPIRE, REFRESH, SERIAL, ExpiryWatch, TransferGroup, ask_soa
from servers import StartServer

pytestmark = pytest.mark.integration

LISTED, HIDDEN = "listed.test", "hidden.test"
INTERVAL = 2  # seconds between dnsmon's rounds
# The report's times are whole seconds and the truth is polled every 0.25 s.
SLACK = 2.0
# Short TTLs: the resolver's cache runs out soon after the copies do, so it fails too
# (SERVFAIL) while dnsmon must still name the expired copy, not an unreachable authority.
TTL = 10
UNREACHABLE = ("authority_unreachable", "zone_dark")


@pytest.fixture
def transfers(start_server: StartServer, request: pytest.FixtureRequest) -> Iterator[TransferGroup]:
    """LISTED and HIDDEN on a Knot primary, copied by NSD and BIND, and an Unbound."""
    del start_server  # only for its check that the servers are installed
    primary = getattr(request, "param", "knot")
    group = TransferGroup(
        [LISTED, HIDDEN], primary=primary, hidden=[HIDDEN], ttl=TTL,
        resolver_options={"max_rtt_ms": 500},
    )  # fmt: skip
    with group:
        yield group


def probes(tmp_path: Path, group: TransferGroup, interval: int = INTERVAL) -> Path:
    document: dict[str, Any] = {
        "version": 1, "site": "expiry-test",
        "defaults": {"interval": f"{interval}s", "timeout": "1s", "attempts": 2,
                     "warn_before": "1h"},
        "servers": group.probes_servers(),
        "names": [{"name": f"app.{zone}", "type": "A"} for zone in (LISTED, HIDDEN)],
        "services": [{"name": f"{zone.split('.')[0]}-app", "depends_on": [f"app.{zone}"]}
                     for zone in (LISTED, HIDDEN)],
    }  # fmt: skip
    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def started(report: dict[str, Any]) -> float:
    return datetime.fromisoformat(report["started_at"].replace("Z", "+00:00")).timestamp()


def zone_entry(report: dict[str, Any], zone: str) -> dict[str, Any]:
    return next(z for z in report["zones"] if z["name"] == zone)


def causes(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["kind"], c["target"]): c for c in report["causes"]}


def shown(report: dict[str, Any], *zones: str) -> str:
    """The parts of a report these tests read, for a failure message."""
    return json.dumps(
        {
            "started_at": report["started_at"],
            "zones": [z for z in report["zones"] if not zones or z["name"] in zones],
            "causes": report["causes"],
            "warnings": report.get("warnings"),
        },
        indent=1,
    )


def resolver_fails(group: TransferGroup, name: str) -> bool:
    """The resolver answers SERVFAIL for `name`, or nothing within 2 s."""
    assert group.resolver is not None
    try:
        return group.resolver.query(name, timeout=2.0).rcode() == dns.rcode.SERVFAIL
    except (dns.exception.DNSException, OSError):
        return True


class Rounds:
    """Every distinct report /api/status showed, by its round's start, and the
    dnsmon_zone_expiry_seconds samples scraped next to them."""

    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter
        self.reports: dict[str, dict[str, Any]] = {}
        # (dnsmon_last_round_timestamp_seconds, {zone: dnsmon_zone_expiry_seconds})
        self.metrics: list[tuple[float | None, dict[str, float | None]]] = []

    def read(self) -> dict[str, Any]:
        response = self.exporter.get("/api/status")
        assert response.status == 200, (response.status, response.body[:500])
        report = json.loads(response.body)
        self.reports.setdefault(report["started_at"], report)
        samples = self.exporter.metrics()
        self.metrics.append((
            samples.value("dnsmon_last_round_timestamp_seconds"),
            {z: samples.value("dnsmon_zone_expiry_seconds", zone=z) for z in (LISTED, HIDDEN)},
        ))  # fmt: skip
        return report

    def between(self, after: float, before: float) -> list[dict[str, Any]]:
        """Reports of rounds that started in [after, before] (by their whole-second
        start: one that says T started in [T, T + 1))."""
        return [r for r in self.reports.values() if after <= started(r) <= before - 1]


def test_copies_count_down_to_the_moment_the_secondaries_expire(
    transfers: TransferGroup, tmp_path: Path
) -> None:
    group = transfers
    with Exporter(probes(tmp_path, group), tmp_path) as exporter:
        rounds = Rounds(exporter)
        # A fresh transfer (NOTIFY): every copy's clock starts between these two times.
        changed = time.time()
        group.set_serial(SERIAL + 1)
        group.wait_agreed()
        transferred = time.time()
        # A round that saw the primary and both secondaries agree on the new serial.
        serials = {name: SERIAL + 1 for name in ("primary", *group.secondaries)}

        def agreed() -> bool:
            report = rounds.read()
            return started(report) >= transferred and all(
                zone_entry(report, z)["serials"] == serials for z in (LISTED, HIDDEN)
            )

        deadline = time.monotonic() + 20
        while not agreed():
            assert time.monotonic() < deadline, "no round saw the copies agree:\n" + shown(
                rounds.read()
            )
            time.sleep(0.25)
        with ExpiryWatch(group) as watch:
            group.primary.stop()
            stopped = time.time()
            # The copies were refreshed last by that transfer: no SOA check came between
            # (the first is due a refresh after it, 22.5 s at the earliest with BIND's
            # jitter), so each expires EXPIRE seconds after it.
            assert stopped - transferred < REFRESH * 0.75 - 2, "too slow to reach the stop"
            end = time.monotonic() + EXPIRE + 30
            while not watch.all_expired():
                assert time.monotonic() < end, f"copies not expired: {watch.expired}"
                rounds.read()
                time.sleep(0.5)
            expired_at = max(e.at for e in watch.expired.values())
            # Then the resolver's cache runs out as well: it answers SERVFAIL too.
            failed_through: dict[str, float] = {}
            end = time.monotonic() + TTL + 20
            while len(failed_through) < 2 or time.time() < expired_at + 3 * INTERVAL:
                assert time.monotonic() < end, f"resolver still answering: {failed_through}"
                for zone in (LISTED, HIDDEN):
                    if resolver_fails(group, f"app.{zone}"):
                        failed_through.setdefault(zone, time.time())
                rounds.read()
                time.sleep(0.5)
            # Two more rounds that started after both names failed through it.
            end = time.monotonic() + 5 * INTERVAL + 5
            while len(rounds.between(max(failed_through.values()) + 1, time.time() + 1)) < 2:
                assert time.monotonic() < end, "dnsmon's rounds stopped"
                rounds.read()
                time.sleep(0.5)

    # The truth, measured: each secondary answered SERVFAIL for each zone EXPIRE
    # seconds after the transfer; NSD with EDE 24, BIND with none.
    truth: dict[str, float] = {}
    for zone in (LISTED, HIDDEN):
        first = watch.first(zone)
        assert first is not None
        truth[zone] = first.at
        for name in group.secondaries:
            moment = watch.expired[name, zone]
            assert changed + EXPIRE <= moment.at <= transferred + EXPIRE + 0.5, (
                name, zone, moment.at - changed, transferred - changed,
            )  # fmt: skip
            if name.startswith("nsd"):
                assert [code for code, _ in moment.ede] == [24], moment.ede
            else:
                assert moment.ede == [], moment.ede

    for zone in (LISTED, HIDDEN):
        # Counting: every round after the stop that ended before the copy expired.
        counting = rounds.between(stopped + 0.5, truth[zone] - 1.5)
        lefts = [(started(r), zone_entry(r, zone)["expires_in_seconds"]) for r in counting]
        early = [truth[zone] - at - left for at, left in lefts if left is not None]
        print(f"{zone}: transferred within {transferred - changed:.1f} s of the change, "
              f"stopped {stopped - transferred:.1f} s and expired "
              f"{truth[zone] - transferred:.1f} s after it (the resolver failed "
              f"{failed_through[zone] - truth[zone]:.1f} s later); {len(counting)} rounds "
              f"counting, predicted {min(early, default=0):.1f} to {max(early, default=0):.1f} "
              "s early")  # fmt: skip
        assert len(counting) >= (EXPIRE - REFRESH) // INTERVAL, len(counting)
        for report in counting:
            entry = zone_entry(report, zone)
            assert entry["primary"] == "primary", shown(report, zone)
            left = entry["expires_in_seconds"]
            assert isinstance(left, int | float), shown(report, zone)
            predicted = started(report) + left
            # The earliest the copy can expire: never after the truth, at most one
            # refresh before it.
            assert predicted <= truth[zone] + SLACK, (predicted - truth[zone], shown(report, zone))
            assert truth[zone] - predicted <= REFRESH + SLACK, (
                truth[zone] - predicted,
                shown(report, zone),
            )
            clock = causes(report).get(("zone_expiring", zone))
            assert clock is not None, shown(report, zone)
            # (Once the earliest moment has passed, the time left may say 0.)
            assert abs(clock["seconds"] - max(left, 0)) <= 1, shown(report, zone)
            assert any(zone in warning for warning in report["warnings"]), shown(report, zone)
        # Expired: every round that started after the first copy answered SERVFAIL,
        # the last two after the resolver failed too.
        after = rounds.between(truth[zone] + 1, time.time())
        assert len(after) >= 2, [r["started_at"] for r in rounds.reports.values()]
        for report in after:
            found = causes(report)
            assert ("zone_expired", zone) in found, shown(report, zone)
            assert not [k for k in found if k[0] in UNREACHABLE and k[1] == zone], shown(
                report, zone
            )
        # The metric counts the same clock while it runs.
        during = [
            (at, values[zone])
            for at, values in rounds.metrics
            if at is not None and stopped + 0.5 <= at <= truth[zone] - INTERVAL - 1
        ]
        assert during and all(value is not None for _, value in during), during
        for at, value in during:
            assert value is not None
            assert -SLACK <= truth[zone] - (at + value) <= REFRESH + INTERVAL + SLACK, (at, value)


@pytest.mark.parametrize("transfers", ["bind"], indirect=True)
def test_a_primary_serving_an_older_serial_is_serial_regressed(
    transfers: TransferGroup, tmp_path: Path
) -> None:
    """A BIND primary reloaded with an older zone: the secondaries keep their copy."""
    group = transfers
    group.wait_agreed()
    group.set_serial(SERIAL - 5)  # named restarts with it and sends NOTIFY
    # The truth: the primary serves the lower serial, the secondaries will not take it.
    assert ask_soa(group.primary, LISTED).serial == SERIAL - 5
    time.sleep(2)  # the NOTIFY has come and been answered with an SOA query
    for name, secondary in group.secondaries.items():
        for zone in (LISTED, HIDDEN):
            assert secondary.serial(zone) == SERIAL, (name, zone, secondary.log())
    code, report = check(probes(tmp_path, group))
    found = causes(report)
    for zone in (LISTED, HIDDEN):
        entry = zone_entry(report, zone)
        assert entry["primary"] == "primary", shown(report, zone)
        assert entry["serials"] == {
            "primary": SERIAL - 5, "nsd-secondary": SERIAL, "bind-secondary": SERIAL
        }, shown(report, zone)  # fmt: skip
        assert ("serial_regressed", zone) in found, shown(report, zone)
        assert ("zone_expired", zone) not in found, shown(report, zone)
    assert code == 1, shown(report)  # a warning: every answer still works
