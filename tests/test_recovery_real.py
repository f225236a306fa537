"""Recovery, read from real caches: the authority answers a name well again but the
resolvers still hand out the fault, for as long as their caches say, and dnsmon names the
fault, the seconds each resolver needs and the command that ends it sooner.

Knot is the authority for recover.test; Unbound (stub zone) and BIND (forwarding, with
an rndc control channel of its own) are the resolvers. Each gets its own command
(`unbound-control …`, `rndc …`), never another software's: in the first test neither
has a `software:` key, and both say what they are when asked version.bind (CH TXT:
"unbound 1.17.1", and "9.18.49-1~deb12u3-Debian", where BIND does not name itself but
answers authors.bind as well); in the second their `software:` keys say. The tests
measure what the resolvers really hold with dnspython (the SOA TTL in a cached NXDOMAIN's
authority section, a cached answer's TTL), run the commands the report gives against
them, and see the name resolve.

- A name missing, its NXDOMAIN cached (negative TTL 120 s; BIND capped at 90 s with
  max-ncache-ttl, so the two resolvers need different times), then added: one
  `check` says `negative_cached`.
- A change rolled back under a 600 s TTL (BIND capped at 300 s with max-cache-ttl):
  `serve` saw the new address, then the authority gives the old one again while the
  resolvers hold the new one: `old_answer_cached`, and dnsmon_service_recovery_seconds.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import pytest
import yaml
from dnsmon_cli import check, services
from exporter import Exporter, wait_until
from servers import BindResolver, Knot, Server, StartServer, Unbound, find_binary, free_port

pytestmark = pytest.mark.integration

ZONE = "recover.test"
NEW = f"new.{ZONE}"  # missing, then added
APP = f"app.{ZONE}"  # changed, then rolled back
NEGATIVE_TTL = 120
TTL = 600
BIND_MAX_NCACHE, BIND_MAX_CACHE = 90, 300
ADDED = "127.40.1.20"
OLD, CHANGED = "127.40.1.10", "127.40.1.11"
SERIAL = 2026120101
TOLERANCE = 15  # seconds: dnsmon's countdown against the TTL left that the resolver says
PROGRAMS = {"unbound-control", "rndc"}


def zone_text(serial: int, records: dict[str, str]) -> str:
    lines = [
        f"$ORIGIN {ZONE}.", f"$TTL {TTL}",
        f"@ SOA ns1 hostmaster {serial} 3600 600 1209600 {NEGATIVE_TTL}",
        "@ NS ns1", "ns1 A 127.0.0.1",
        *(f"{owner} {record}" for owner, record in records.items()),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


class RndcBindResolver(BindResolver):
    """BindResolver with an rndc control channel on 127.0.0.1 and a key of its own;
    `rndc_conf` is the rndc.conf that reaches it (rndc -c FILE …)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.control_port = free_port()
        self.secret = base64.b64encode(os.urandom(32)).decode()

    @property
    def rndc_conf(self) -> Path:
        return self.dir / "rndc.conf"

    def _write_config(self) -> None:
        super()._write_config()
        key = f'key "test-rndc" {{ algorithm hmac-sha256; secret "{self.secret}"; }};\n'
        text = self.config_path.read_text().replace(
            "controls { };\n",
            key + f"controls {{ inet 127.0.0.1 port {self.control_port} "
            'allow { 127.0.0.1; } keys { "test-rndc"; }; };\n',
        )
        self.config_path.write_text(text)
        self.rndc_conf.write_text(
            key + 'options { default-key "test-rndc"; default-server 127.0.0.1; '
            f"default-port {self.control_port}; }};\n"
        )

    def rndc(self, *args: str) -> str:
        done = subprocess.run(
            [find_binary("rndc"), "-c", str(self.rndc_conf), *args],
            capture_output=True, text=True, timeout=15,
        )  # fmt: skip
        assert done.returncode == 0, f"rndc {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout


def probes(
    tmp_path: Path, authority: Knot, resolvers: dict[str, Server], name: str,
    software: bool = False,
) -> Path:  # fmt: skip
    """A config of the resolvers and the authority; `software` says what each resolver
    runs (otherwise dnsmon asks them version.bind)."""
    service = "newapp" if name == NEW else "app"
    said = {"software": "unbound"}, {"software": "bind"}
    document: dict[str, Any] = {
        "version": 1, "site": "recovery-test",
        "defaults": {"interval": "1s", "timeout": "1s", "attempts": 2},
        "servers": [
            *({"name": n, "address": r.address, "port": r.port, "role": "recursive",
               **(said[isinstance(r, BindResolver)] if software else {})}
              for n, r in resolvers.items()),
            {"name": "ns1", "address": authority.address, "port": authority.port,
             "role": "authoritative", "zones": [ZONE]},
        ],
        "names": [{"name": name, "type": "A"}],
        "services": [{"name": service, "depends_on": [name]}],
    }  # fmt: skip
    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def answer(server: Server, name: str) -> tuple[int, list[str], int | None]:
    """What `server` answers for `name` A now: rcode, addresses, and the TTL left (of
    the answer, or of the SOA in a negative answer's authority section)."""
    response: dns.message.Message = server.query(name, "A", timeout=2.0)
    addresses, ttl = [], None
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.A:
            addresses += [r.address for r in rrset]
            ttl = rrset.ttl
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and not addresses:
            ttl = rrset.ttl
    return response.rcode(), sorted(addresses), ttl


def of_kind(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in report["causes"] if c["kind"] == kind]


def shown(report: dict[str, Any]) -> str:
    return json.dumps(
        {k: report.get(k) for k in ("started_at", "services", "causes", "warnings")}, indent=1
    )


def program(command: str) -> str:
    return shlex.split(command)[0]


def run_flush(command: str, unbound: Unbound, bind: RndcBindResolver) -> None:
    """Run a command the report gave against the test's own server: the same words,
    with the config that reaches this instance's control channel added."""
    words = shlex.split(command)
    if words[0] == "unbound-control":
        unbound.control(*words[1:])
    elif words[0] == "rndc":
        bind.rndc(*words[1:])
    else:
        raise AssertionError(f"not a command for Unbound or BIND: {command}")


def check_causes(
    report: dict[str, Any], kind: str, name: str, left: dict[str, tuple[int, int]]
) -> list[str]:
    """The causes of `kind` hold the truth: they concern `name`, each says the seconds
    one resolver needs (between what it said just after and just before the round,
    TOLERANCE either way), the longest is the slowest resolver's, and the commands are
    each resolver's own (by its software key, or what it answers to version.bind: both
    say). Their commands."""
    found = of_kind(report, kind)
    assert found, shown(report)
    assert all(c["target"] == name or name in c["summary"] for c in found), shown(report)
    for cause in found:
        assert any(
            low - TOLERANCE <= cause["seconds"] <= high + TOLERANCE for low, high in left.values()
        ), (left, shown(report))
    slowest = max(left.values())
    assert slowest[0] - TOLERANCE <= max(c["seconds"] for c in found) <= slowest[1] + TOLERANCE, (
        left,
        shown(report),
    )
    commands = [command for cause in found for command in cause.get("commands", [])]
    assert {program(c) for c in commands} == PROGRAMS, (commands, shown(report))
    return commands


def test_a_cached_nxdomain_after_the_name_is_added_is_negative_cached(
    tmp_path: Path, start_server: StartServer
) -> None:
    authority = start_server(Knot({ZONE: zone_text(SERIAL, {})}))
    unbound = start_server(Unbound({ZONE: [authority]}))
    bind = start_server(
        RndcBindResolver({ZONE: [authority]}, extra=[f"max-ncache-ttl {BIND_MAX_NCACHE};"])
    )
    resolvers: dict[str, Server] = {"resolver-unbound": unbound, "resolver-bind": bind}
    for resolver in resolvers.values():
        assert answer(resolver, NEW)[0] == dns.rcode.NXDOMAIN  # cached from now on
    authority.set_zone(ZONE, zone_text(SERIAL + 1, {"new": f"A {ADDED}"}))
    assert answer(authority, NEW)[:2] == (dns.rcode.NOERROR, [ADDED])
    # The truth: the SOA TTL in each resolver's cached NXDOMAIN, just before and after.
    before = {n: answer(r, NEW) for n, r in resolvers.items()}
    config = probes(tmp_path, authority, resolvers, NEW)
    code, report = check(config)
    after = {n: answer(r, NEW) for n, r in resolvers.items()}
    for name in resolvers:
        assert before[name][0] == after[name][0] == dns.rcode.NXDOMAIN, (before, after)
    left = {n: (after[n][2] or 0, before[n][2] or 0) for n in resolvers}
    assert NEGATIVE_TTL - 20 <= left["resolver-unbound"][0] <= NEGATIVE_TTL, left
    assert BIND_MAX_NCACHE - 20 <= left["resolver-bind"][0] <= BIND_MAX_NCACHE, left

    commands = check_causes(report, "negative_cached", NEW, left)
    assert (
        "unbound-control flush_negative" in commands or f"unbound-control flush {NEW}" in commands
    ), commands
    assert f"rndc flushname {NEW}" in commands, commands
    newapp = next(s for s in report["services"] if s["name"] == "newapp")
    slowest = left["resolver-unbound"]
    assert slowest[0] - TOLERANCE <= newapp["recovery_seconds"] <= slowest[1] + TOLERANCE, shown(
        report
    )
    assert code in (1, 2), shown(report)

    # Run what the report says, and the name resolves everywhere at once.
    for command in commands:
        run_flush(command, unbound, bind)
    for resolver in resolvers.values():
        assert answer(resolver, NEW)[:2] == (dns.rcode.NOERROR, [ADDED])
    code, report = check(config)
    assert not of_kind(report, "negative_cached"), shown(report)
    assert services(report)["newapp"] == "up" and code == 0, shown(report)


def test_a_rollback_while_resolvers_hold_the_new_answer_is_old_answer_cached(
    tmp_path: Path, start_server: StartServer
) -> None:
    # The change is in: the resolvers cache the new address for the zone's TTL.
    authority = start_server(Knot({ZONE: zone_text(SERIAL + 1, {"app": f"A {CHANGED}"})}))
    unbound = start_server(Unbound({ZONE: [authority]}))
    bind = start_server(
        RndcBindResolver({ZONE: [authority]}, extra=[f"max-cache-ttl {BIND_MAX_CACHE};"])
    )
    resolvers: dict[str, Server] = {"resolver-unbound": unbound, "resolver-bind": bind}
    for resolver in resolvers.values():
        assert answer(resolver, APP)[:2] == (dns.rcode.NOERROR, [CHANGED])
    config = probes(tmp_path, authority, resolvers, APP, software=True)
    with Exporter(config, tmp_path) as exporter:

        def status() -> dict[str, Any]:
            return json.loads(exporter.get("/api/status").body)

        wait_until(lambda: services(status()).get("app") == "up", "app up", 15, exporter.describe)
        # Rolled back: the authority gives the old address again.
        authority.set_zone(ZONE, zone_text(SERIAL + 2, {"app": f"A {OLD}"}))
        rolled_back = time.time()
        assert answer(authority, APP)[:2] == (dns.rcode.NOERROR, [OLD])
        seen: list[dict[str, Any]] = []

        def fault_named() -> dict[str, Any] | None:
            before = {n: answer(r, APP) for n, r in resolvers.items()}
            report = status()
            after = {n: answer(r, APP) for n, r in resolvers.items()}
            seen.append(report)
            if not of_kind(report, "old_answer_cached"):
                return None
            return {"report": report, "before": before, "after": after}

        found = wait_until(
            fault_named,
            "old_answer_cached",
            15,
            lambda: shown(seen[-1]) if seen else exporter.describe(),
        )
        report, before, after = found["report"], found["before"], found["after"]
        for name in resolvers:
            # The truth: each resolver still hands out the new address, for this long.
            assert before[name][:2] == after[name][:2] == (dns.rcode.NOERROR, [CHANGED])
        left = {n: (after[n][2] or 0, before[n][2] or 0) for n in resolvers}
        assert TTL - 30 <= left["resolver-unbound"][0] <= TTL, left
        assert BIND_MAX_CACHE - 30 <= left["resolver-bind"][0] <= BIND_MAX_CACHE, left
        commands = check_causes(report, "old_answer_cached", APP, left)
        assert f"unbound-control flush {APP}" in commands, commands
        assert f"rndc flushname {APP}" in commands, commands
        app = next(s for s in report["services"] if s["name"] == "app")
        slowest = left["resolver-unbound"]
        assert slowest[0] - TOLERANCE <= app["recovery_seconds"] <= slowest[1] + TOLERANCE, shown(
            report
        )
        recovery = exporter.metrics().value("dnsmon_service_recovery_seconds", service="app")
        assert recovery is not None, "dnsmon_service_recovery_seconds{service=app} absent"
        elapsed = time.time() - rolled_back
        assert slowest[0] - TOLERANCE - elapsed <= recovery <= slowest[1] + TOLERANCE, recovery

        # Run what the report says: both resolvers give the old address again, and the
        # fault and its clock are gone within a few rounds.
        for command in commands:
            run_flush(command, unbound, bind)
        for resolver in resolvers.values():
            assert answer(resolver, APP)[:2] == (dns.rcode.NOERROR, [OLD])

        def recovered() -> bool:
            report = status()
            seen.append(report)
            gone = exporter.metrics().value("dnsmon_service_recovery_seconds", service="app")
            return not of_kind(report, "old_answer_cached") and gone is None

        wait_until(recovered, "old_answer_cached gone", 15, lambda: shown(seen[-1]))
