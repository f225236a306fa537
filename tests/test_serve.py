"""``dnsmon serve`` as an operator runs it: the real command against real Knot, BIND and
Unbound servers, scraped and reloaded over HTTP, stopped by signal.

Rounds run every second with a one-second timeout, so every change shows within a few
seconds; tests poll for it and never sleep a fixed time.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import yaml
from exporter import Exporter, Samples, parse_exposition, wait_until, write_config
from servers import DEFAULT_SERVICES, TestRegion

EHR_UP = 'dnsmon_service_status{criticality="critical",service="ehr",status="up"} 1.0'
# Every metric of SPEC.md as it appears in a scrape (a histogram by its buckets).
# dnsmon_service_runway_seconds is absent while no runway exists, so it is not listed.
SPEC_SAMPLES = [
    "dnsmon_probe_success",
    "dnsmon_probe_duration_seconds",
    "dnsmon_probe_ttl_seconds",
    "dnsmon_probe_results_total",
    "dnsmon_server_query_duration_seconds_bucket",
    "dnsmon_server_query_duration_seconds_count",
    "dnsmon_server_query_duration_seconds_sum",
    "dnsmon_server_up",
    "dnsmon_name_healthy_servers",
    "dnsmon_name_servers",
    "dnsmon_name_answers_consistent",
    "dnsmon_service_status",
    "dnsmon_backup_status",
    "dnsmon_backup_shared_fate",
    "dnsmon_zone_serial",
    "dnsmon_zone_serials_consistent",
    "dnsmon_round_duration_seconds",
    "dnsmon_last_round_timestamp_seconds",
    "dnsmon_config_last_reload_successful",
    "dnsmon_config_last_reload_success_timestamp_seconds",
]
EHR = {"service": "ehr", "criticality": "critical"}
CONFIG_SERVERS = {"ns1", "ns2", "resolver-a", "resolver-b"}
CONFIG_NAMES = {"ehr-db.region.internal", "_ldap._tcp.region.internal", "ehr-ro.region.internal"}
PACS = {
    "name": "pacs",
    "description": "Radiology images",
    "criticality": "high",
    "depends_on": ["ehr-db.region.internal"],
}

PACS_UP = {"service": "pacs", "criticality": "high", "status": "up"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def shared_exporter(region: TestRegion, workdir: Path) -> Iterator[Exporter]:
    with Exporter(write_config(region, workdir / "probes.yaml"), workdir) as started:
        yield started


@pytest.fixture
def exporter(shared_exporter: Exporter) -> Exporter:
    """One exporter for the tests that only read, once it shows the region healthy."""
    shared_exporter.wait_for_metric("dnsmon_service_status", 1.0, **EHR, status="up")
    return shared_exporter


@pytest.fixture
def breakable(region: TestRegion) -> Iterator[TestRegion]:
    """The shared region for a test that stops its servers; reset afterwards."""
    yield region
    region.reset()


# --- health, readiness and the scrape ----------------------------------------------------


def test_healthy_answers_200(exporter: Exporter) -> None:
    response = exporter.get("/-/healthy")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")


def test_not_ready_until_the_first_round_is_done(serve, region, hostile, tmp_path) -> None:
    # A resolver that never answers makes the first round last attempts × timeout.
    silent = hostile("silent")
    config = write_config(
        region,
        tmp_path / "slow.yaml",
        defaults={"attempts": 3},
        extra_servers=[
            {"name": "silent", "address": silent.address, "port": silent.port, "role": "recursive"}
        ],
    )
    exporter = serve(config, wait=False)
    healthy = wait_until(
        lambda: _status_or_none(exporter, "/-/healthy"), "listening", describe=exporter.describe
    )
    assert healthy == 200  # alive while the first round still runs
    assert exporter.get("/-/ready").status == 503
    status = exporter.get("/api/status")
    assert status.status == 503
    assert "error" in json.loads(status.body)
    assert exporter.get("/").status == 200  # the page says it is waiting
    exporter.wait_ready()
    assert silent.queries > 0
    assert exporter.get("/-/ready").status == 200
    assert exporter.get("/api/status").status == 200


def _services(samples: Samples) -> set[str]:
    return {labels["service"] for labels in samples.labelsets("dnsmon_service_status")}


def _status_or_none(exporter: Exporter, path: str) -> int | None:
    try:
        return exporter.get(path, timeout=1.0).status
    except (OSError, http.client.HTTPException):
        return None


def test_metrics_have_every_spec_family_and_ehr_up(exporter: Exporter) -> None:
    response = exporter.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert "Content-Encoding" not in response.headers
    text = response.text
    assert EHR_UP in text.splitlines()
    samples = parse_exposition(text)
    missing = [name for name in SPEC_SAMPLES if name not in samples.names]
    assert not missing, f"SPEC metrics missing from /metrics: {missing}"
    assert samples.value("dnsmon_server_up", server="ns1", role="authoritative") == 1.0
    assert samples.value("dnsmon_server_up", server="resolver-a", role="recursive") == 1.0
    assert samples.value("dnsmon_zone_serial", zone="region.internal", server="ns2") == 2026112601
    # Redundancy is counted over the resolvers, as clients see it: two of two.
    assert samples.value("dnsmon_name_servers", name="ehr-db.region.internal", type="A") == 2
    assert (
        samples.value("dnsmon_name_healthy_servers", name="ehr-db.region.internal", type="A") == 2
    )
    assert samples.value("dnsmon_zone_reach", zone="region.internal", server="resolver-a") == 1.0
    assert samples.value("dnsmon_zone_dark", zone="region.internal") == 0.0
    readonly = {"service": "ehr", "backup": "ehr-readonly"}
    assert samples.value("dnsmon_backup_shared_fate", **readonly, level="zone") == 1.0
    assert samples.value("dnsmon_backup_status", **readonly, status="usable") == 1.0
    assert samples.value("dnsmon_config_last_reload_successful") == 1.0
    ehr_db = {"name": "ehr-db.region.internal", "type": "A"}
    assert samples.value("dnsmon_probe_success", **ehr_db, server="resolver-b") == 1.0
    assert samples.value("dnsmon_probe_ttl_seconds", **ehr_db, server="ns1") == 300
    assert samples.value("dnsmon_name_answers_consistent", **ehr_db) == 1.0
    # State sets: exactly one state is 1 per service.
    ehr = [
        labels
        for labels in samples.labelsets("dnsmon_service_status")
        if labels["service"] == "ehr"
    ]
    assert sorted(labels["status"] for labels in ehr) == ["degraded", "down", "up"]
    assert sum(samples.value("dnsmon_service_status", **labels) or 0 for labels in ehr) == 1


def test_promtool_finds_nothing_to_lint_in_the_scrape(exporter: Exporter) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool is not installed (Debian package prometheus); CI installs it", pytrace=False
        )
    body = exporter.get("/metrics").body
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30
    )
    assert lint.returncode == 0 and not lint.stdout and not lint.stderr, (
        lint.stdout.decode() + lint.stderr.decode()
    )


def test_gzip_scrape_decompresses_to_the_same_exposition(exporter: Exporter) -> None:
    zipped = exporter.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert zipped.status == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert int(zipped.headers["Content-Length"]) == len(zipped.body)
    plain = parse_exposition(gzip.decompress(zipped.body).decode())
    again = exporter.metrics()
    assert plain.families == again.families
    assert EHR_UP.split(" ")[0] in gzip.decompress(zipped.body).decode()
    for name in SPEC_SAMPLES:
        assert name in plain.names


def test_api_status_is_the_spec_report(exporter: Exporter) -> None:
    response = exporter.get("/api/status")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    report = json.loads(response.body)
    assert report["site"] == "test-site"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", report["started_at"])
    assert isinstance(report["duration_seconds"], int | float)
    assert report["status"] == "up"
    ehr = next(s for s in report["services"] if s["name"] == "ehr")
    assert ehr["criticality"] == "critical" and ehr["status"] == "up"
    assert {b["name"]: b["shared_fate"] for b in ehr["backups"]} == {
        "ehr-readonly": "zone",
        "paper-forms": None,
    }
    ehr_db = next(n for n in report["names"] if n["name"] == "ehr-db.region.internal")
    assert ehr_db["status"] == "healthy" and ehr_db["consistent"] is True
    assert {r["server"] for r in ehr_db["results"]} == CONFIG_SERVERS
    for result in ehr_db["results"]:
        assert result["result"] == "ok" and result["answers"] == ["127.20.1.15"]
        assert {"rtt_seconds", "ttl"} <= set(result)
    zone = next(z for z in report["zones"] if z["name"] == "region.internal")
    assert zone["serials"] == {"ns1": 2026112601, "ns2": 2026112601}
    assert zone["consistent"] is True


def test_status_page_is_self_contained(exporter: Exporter) -> None:
    response = exporter.get("/")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert "ehr" in page and "test-site" in page
    # Nothing loaded from elsewhere: no scripts, images, stylesheets or absolute links.
    assert not re.search(r"(src=|<link|https?://|//[a-z])", page, re.IGNORECASE), page


def test_unknown_paths_are_404(exporter: Exporter) -> None:
    assert exporter.get("/nope").status == 404
    assert exporter.get("/metrics/extra").status == 404
    assert exporter.post("/metrics").status == 404
    assert exporter.get("/-/reload").status == 404  # reloading takes a POST


def test_no_endpoint_takes_a_target_from_the_query(exporter: Exporter) -> None:
    # Never an open DNS proxy: a target, name or server in the query is ignored.
    plain = exporter.metrics()
    response = exporter.get("/metrics?target=1.2.3.4&name=evil.example&server=9.9.9.9")
    assert response.status == 200
    asked = parse_exposition(response.text)
    assert asked.families == plain.families
    for family in ("dnsmon_probe_success", "dnsmon_server_up", "dnsmon_name_servers"):
        assert _labelsets(asked, family) == _labelsets(plain, family)
    for labels in asked.labelsets("dnsmon_probe_results_total"):
        assert labels["server"] in CONFIG_SERVERS
        assert labels["name"] in {*CONFIG_NAMES, "region.internal", "20.127.in-addr.arpa"}
    assert "1.2.3.4" not in response.text and "evil.example" not in response.text
    report = json.loads(exporter.get("/api/status?name=evil.example&type=TXT").body)
    assert {n["name"] for n in report["names"]} == CONFIG_NAMES
    assert exporter.get("/-/ready?target=1.2.3.4").status == 200
    assert "1.2.3.4" not in exporter.log() and "evil.example" not in exporter.log()


def _labelsets(samples: Samples, metric: str) -> set[frozenset[tuple[str, str]]]:
    return {frozenset(labels.items()) for labels in samples.labelsets(metric)}


def test_concurrent_scrapes_while_rounds_run(exporter: Exporter) -> None:
    errors: list[str] = []
    rounds_seen: set[float] = set()
    lock = threading.Lock()
    new_round = threading.Event()
    first = exporter.metrics().value("dnsmon_rounds_total")

    def scrape(worker: int) -> None:
        done = 0
        deadline = time.monotonic() + 20
        # 20 scrapes each, and on until a round has finished while scraping.
        while (done < 20 or not new_round.is_set()) and time.monotonic() < deadline:
            try:
                samples = exporter.metrics(accept_gzip=bool((worker + done) % 2))
                assert "dnsmon_service_status" in samples.names
            except Exception as exc:  # collected: an assertion in a thread is lost
                with lock:
                    errors.append(f"worker {worker} scrape {done}: {exc!r}")
                return
            rounds = samples.value("dnsmon_rounds_total")
            assert rounds is not None
            with lock:
                rounds_seen.add(rounds)
            if first is not None and rounds > first:
                new_round.set()
            done += 1

    threads = [threading.Thread(target=scrape, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, "\n".join(errors[:10])
    assert new_round.is_set() and len(rounds_seen) >= 2, rounds_seen


# --- reload --------------------------------------------------------------------------------


def test_reload_adds_a_service_and_keeps_running_on_a_broken_config(
    serve, region, tmp_path
) -> None:
    config = write_config(region, tmp_path / "probes.yaml")
    exporter = serve(config)
    before = exporter.metrics().value("dnsmon_config_last_reload_success_timestamp_seconds")
    assert before is not None

    write_config(region, config, services=[*DEFAULT_SERVICES, PACS])
    response = exporter.post("/-/reload")
    assert response.status == 200, response.text
    samples = exporter.wait_for_metric("dnsmon_service_status", 1.0, **PACS_UP)
    assert samples.value("dnsmon_config_last_reload_successful") == 1.0
    reloaded = samples.value("dnsmon_config_last_reload_success_timestamp_seconds")
    assert reloaded is not None and reloaded > before

    broken = {**PACS, "depends_on": ["nope.region.internal"]}
    write_config(region, config, services=[*DEFAULT_SERVICES, broken])
    response = exporter.post("/-/reload")
    assert response.status == 500
    assert "nope.region.internal" in response.text and "depends_on" in response.text
    samples = exporter.wait_for_metric("dnsmon_config_last_reload_successful", 0.0)
    # The old config keeps running: pacs is still probed, rounds go on.
    assert samples.value("dnsmon_service_status", **PACS_UP) == 1.0
    rounds = samples.value("dnsmon_rounds_total")
    assert rounds is not None
    wait_until(
        lambda: (exporter.metrics().value("dnsmon_rounds_total") or 0) > rounds,
        "rounds go on after a failed reload",
        describe=exporter.describe,
    )
    lines = exporter.wait_for_log("config reload failed")
    failure = next(line for line in lines if "config reload failed" in line)
    assert "level=error" in failure and "nope.region.internal" in failure
    assert samples.value("dnsmon_config_last_reload_success_timestamp_seconds") == reloaded

    write_config(region, config)  # good again, without pacs
    exporter.send(signal.SIGHUP)
    samples = exporter.wait_for_metric("dnsmon_config_last_reload_successful", 1.0)
    assert (samples.value("dnsmon_config_last_reload_success_timestamp_seconds") or 0) > reloaded
    wait_until(
        lambda: _services(exporter.metrics()) == {"sso", "ehr"},
        "pacs gone after SIGHUP",
        describe=exporter.describe,
    )
    assert exporter.proc is not None and exporter.proc.poll() is None


# --- stopping ------------------------------------------------------------------------------


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def test_a_storm_of_sighups_is_one_reload_not_a_thread_each(serve, region, tmp_path) -> None:
    """500 SIGHUPs in a burst: the threads stay as many as before (a thread each, until
    now), the exporter stays healthy (a handler that took a lock ran again inside itself
    and hung the HTTP loop for good), and the config read last is the one running."""
    config = write_config(region, tmp_path / "probes.yaml")
    exporter = serve(config)
    before = _threads(exporter.pid)
    write_config(region, config, services=[*DEFAULT_SERVICES, PACS])
    most = before
    for _ in range(500):
        exporter.send(signal.SIGHUP)
        most = max(most, _threads(exporter.pid))
    assert most <= before + 2, (before, most)
    assert exporter.get("/-/healthy").status == 200  # a handler that locked hung it for good
    wait_until(lambda: "pacs" in _services(exporter.metrics()), "the last config runs",
               describe=exporter.describe)  # fmt: skip


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_exits_0_within_2_seconds(serve, signum: signal.Signals) -> None:
    exporter = serve()
    proc = exporter.proc
    assert proc is not None
    started = time.monotonic()
    exporter.send(signum)
    try:
        code = proc.wait(2.0)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 2s after {signum.name}\n{exporter.describe()}")
    assert code == 0, exporter.describe()
    assert time.monotonic() - started < 2.0
    assert "stopping" in exporter.log()
    with pytest.raises(OSError):
        socket.create_connection((exporter.host, exporter.port), timeout=1).close()


# --- a DNS server fails --------------------------------------------------------------------


def test_a_stopped_resolver_degrades_ehr_and_says_so(serve, breakable) -> None:
    exporter = serve()
    exporter.wait_for_metric("dnsmon_service_status", 1.0, **EHR, status="up")
    breakable.resolver_a.stop()
    exporter.wait_for_metric("dnsmon_service_status", 1.0, **EHR, status="degraded")
    # A round wholly after the stop: the one running then may have had answers before it.
    samples = exporter.wait_for_fresh_round()
    assert samples.value("dnsmon_service_status", **EHR, status="degraded") == 1.0
    assert samples.value("dnsmon_service_status", **EHR, status="up") == 0.0
    assert samples.value("dnsmon_server_up", server="resolver-a", role="recursive") == 0.0
    assert samples.value("dnsmon_server_up", server="resolver-b", role="recursive") == 1.0
    ehr_db = {"name": "ehr-db.region.internal", "type": "A", "server": "resolver-a"}
    assert samples.value("dnsmon_probe_success", **ehr_db) == 0.0
    assert (samples.value("dnsmon_probe_results_total", **ehr_db, result="timeout") or 0) >= 1

    lines = exporter.wait_for_log("service ehr up → degraded")
    fields = _logfmt(next(line for line in lines if "service ehr up → degraded" in line))
    assert fields["msg"] == "service ehr up → degraded"
    assert fields["level"] == "warning"
    assert fields["from"] == "up" and fields["to"] == "degraded"
    assert "resolver-a" in fields["reason"]


def _logfmt(line: str) -> dict[str, str]:
    """key=value or key="quoted value" pairs of one logfmt line."""
    pairs = re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line)
    return {k: json.loads(v) if v.startswith('"') else v for k, v in pairs}


def test_json_logs_are_one_object_a_line(serve, breakable) -> None:
    exporter = serve(log_format="json")
    exporter.wait_for_metric("dnsmon_service_status", 1.0, **EHR, status="up")
    breakable.resolver_b.stop()
    lines = [json.loads(line) for line in exporter.wait_for_log("service ehr up")]
    change = next(e for e in lines if e["msg"].startswith("service ehr up"))
    assert change["msg"] == "service ehr up → degraded"
    assert change["level"] == "warning" and change["to"] == "degraded"
    assert any(e["msg"] == "listening" for e in lines)


# --- where and how it listens --------------------------------------------------------------


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no ::1")
def test_listens_on_ipv6_loopback(serve) -> None:
    exporter = serve(host="::1")
    assert exporter.listen.startswith("[::1]:")
    assert exporter.get("/-/healthy").status == 200
    assert EHR_UP.split(" ")[0] in exporter.get("/metrics").text
    with pytest.raises(OSError):  # only where it was told to listen
        socket.create_connection(("127.0.0.1", exporter.port), timeout=1).close()


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        pytest.fail(
            "openssl is not installed (Debian package openssl); CI installs it", pytrace=False
        )
    return found


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for IP 127.0.0.1 and its key, made with the openssl command."""
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            _openssl(),
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def tls_exporter(serve, tmp_path: Path) -> Exporter:
    """An exporter behind TLS and basic auth (user prometheus), as the exporter-toolkit
    web config file describes them."""
    cert, key = self_signed(tmp_path)
    hashed = bcrypt.hashpw(b"s3cret-pw", bcrypt.gensalt(rounds=6)).decode()
    web_config = tmp_path / "web.yml"
    web_config.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {"cert_file": cert.name, "key_file": key.name},
                "basic_auth_users": {"prometheus": hashed},
            }
        )
    )
    context = ssl.create_default_context(cafile=str(cert))
    return serve(web_config=web_config, tls=context, auth=basic("prometheus", "s3cret-pw"))


def test_tls_with_basic_auth(tls_exporter: Exporter) -> None:
    exporter = tls_exporter
    response = exporter.get("/metrics")  # verified against the cert as CA, right password
    assert response.status == 200
    assert EHR_UP in response.text.splitlines()
    assert exporter.get("/-/ready").status == 200

    exporter.auth = basic("prometheus", "wrong")
    denied = exporter.get("/metrics")
    assert denied.status == 401
    assert denied.headers["WWW-Authenticate"].startswith("Basic")
    assert "dnsmon_" not in denied.text
    exporter.auth = basic("grafana", "s3cret-pw")
    assert exporter.get("/metrics").status == 401
    exporter.auth = None
    assert exporter.get("/metrics").status == 401
    assert exporter.post("/-/reload").status == 401
    exporter.auth = "Basic !!not-base64!!"
    assert exporter.get("/api/status").status == 401


def test_plain_http_to_the_tls_port_fails(tls_exporter: Exporter) -> None:
    plain = http.client.HTTPConnection(tls_exporter.host, tls_exporter.port, timeout=5)
    with pytest.raises((OSError, http.client.HTTPException)):
        plain.request("GET", "/metrics", headers={"Authorization": tls_exporter.auth or ""})
        answer = plain.getresponse()
        pytest.fail(f"plain HTTP got an answer: {answer.status} {answer.read()[:200]!r}")
    plain.close()
    assert tls_exporter.get("/-/healthy").status == 200  # and it still serves TLS


def test_an_idle_connection_does_not_block_tls_scrapes(tls_exporter: Exporter) -> None:
    # A port scanner or a TCP health check that connects and says nothing must not stall
    # the exporter: the TLS handshake happens per connection, not in the accept loop.
    idle = socket.create_connection((tls_exporter.host, tls_exporter.port), timeout=5)
    try:
        assert tls_exporter.get("/metrics", timeout=5.0).status == 200
        # Nor does it keep the exporter from stopping.
        proc = tls_exporter.proc
        assert proc is not None
        tls_exporter.send(signal.SIGTERM)
        assert proc.wait(2.0) == 0, tls_exporter.describe()
    finally:
        idle.close()


def test_no_verification_client_works_too(tls_exporter: Exporter) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    tls_exporter.tls = context
    assert tls_exporter.get("/-/healthy").status == 200


def test_a_reload_posted_by_another_sites_page_is_refused(exporter: Exporter) -> None:
    """What a web page in the operator's browser could send dnsmon on loopback without
    asking it first; curl's and the operator's own posts go through."""
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "text/plain;charset=UTF-8"},
    ):
        response = exporter.post("/-/reload", headers=headers, body=b"")
        assert response.status == 403, (headers, response.status)
        assert response.text.startswith("refused:"), response.text
    same = {"Origin": f"http://{exporter.host}:{exporter.port}"}
    assert exporter.post("/-/reload", headers=same).status == 200
    assert exporter.post("/-/reload").status == 200


def test_a_name_pointed_at_loopback_by_another_site_is_not_served(serve) -> None:
    """DNS rebinding: evil.example resolves to 127.0.0.1, and a page of it, open in the
    operator's browser, asks dnsmon with Host: evil.example; IP literals and localhost
    are served, other names only when allowed."""
    exporter = serve()
    refused = exporter.get("/api/status", headers={"Host": "evil.example:9953"})
    assert refused.status == 421 and "--allowed-host evil.example" in refused.text
    for host in (f"127.0.0.1:{exporter.port}", f"localhost:{exporter.port}", "[::1]:9953"):
        assert exporter.get("/-/healthy", headers={"Host": host}).status == 200, host
    allowed = serve(args=("--allowed-host", "dnsmon.region.internal"))
    named = {"Host": f"dnsmon.region.internal:{allowed.port}"}
    assert allowed.get("/-/healthy", headers=named).status == 200


def test_a_flood_of_wrong_passwords_does_not_starve_a_good_scrape(serve, tmp_path) -> None:
    """64 clients at once, each with a new wrong password (bcrypt cost 12: 0.25 s a check
    on 4 workers): a scrape already checked once is answered from memory at once, and one
    never checked gets its answer (200, or 503 to try again) within two seconds, not after
    the whole queue (17 s measured before)."""
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(rounds=12)).decode()
    web_config = tmp_path / "web.yml"
    web_config.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": hashed,
                                                                "grafana": hashed}}))  # fmt: skip
    exporter = serve(web_config=web_config, auth=basic("prometheus", "right"))
    assert exporter.get("/-/healthy").status == 200  # prometheus is checked once now
    statuses: list[int] = []

    def wrong(i: int) -> None:
        probe = Exporter(exporter.config, tmp_path, port=exporter.port,
                         auth=basic("prometheus", f"wrong-{i}"))  # fmt: skip
        statuses.append(probe.get("/-/healthy", timeout=30).status)

    flood = [threading.Thread(target=wrong, args=(i,)) for i in range(64)]
    for thread in flood:
        thread.start()
    time.sleep(0.3)
    began = time.monotonic()
    assert exporter.get("/metrics").status == 200
    assert time.monotonic() - began < 0.5
    exporter.auth = basic("grafana", "right")
    began = time.monotonic()
    assert exporter.get("/-/healthy").status in (200, 503)
    assert time.monotonic() - began < 2.0
    for thread in flood:
        thread.join()
    assert set(statuses) <= {401, 503} and 401 in statuses
