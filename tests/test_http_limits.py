"""``dnsmon serve``'s HTTP under load and abuse, as anything on the network could do it:
many scrapers at once, idle and slow connections, huge bodies, malformed requests.

Every test runs the real command on loopback. The shared exporter runs with 1024 open
files allowed, systemd's default soft limit, so running out of them would show here.
"""

from __future__ import annotations

import asyncio
import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from exporter import Exporter, wait_until, write_config
from servers import TestRegion
from test_serve import self_signed

from monitor.serving.httpserver import HttpServer, Limits, Request, Response, plain

NOFILE = 1024
HEAD_SECONDS = 5.0  # httpserver.Limits: a request's head must arrive within this
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("http-limits")


@pytest.fixture(scope="module")
def exporter(region: TestRegion, workdir: Path) -> Iterator[Exporter]:
    config = write_config(region, workdir / "probes.yaml")
    with Exporter(config, workdir, nofile=NOFILE, log_level="debug") as started:
        yield started


def raw(exporter: Exporter, data: bytes, timeout: float = 5.0) -> str:
    """Send ``data`` as it is; the status line of the answer ("" if none came)."""
    with socket.create_connection((exporter.host, exporter.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # refused before all was sent: what came back still counts
        try:
            answer = sock.recv(4096)
        except OSError:
            return ""
    return answer.split(b"\r\n", 1)[0].decode("latin-1")


def assert_no_raw_traceback(exporter: Exporter) -> None:
    """Every line of the log is one structured record; tracebacks live inside a field."""
    stray = [line for line in exporter.log_lines() if not line.startswith("ts=")]
    assert not stray, "lines outside logfmt:\n" + "\n".join(stray[:20])


def last_round(exporter: Exporter) -> float:
    return exporter.metrics().value("dnsmon_last_round_timestamp_seconds") or 0.0


# --- many clients --------------------------------------------------------------------------


def test_200_concurrent_scrapes_all_succeed(exporter: Exporter) -> None:
    workers, each = 200, 3
    barrier = threading.Barrier(workers)
    results: list[tuple[int | str, float]] = []
    lock = threading.Lock()

    def scrape() -> None:
        barrier.wait()
        for _ in range(each):
            started = time.monotonic()
            try:
                status: int | str = exporter.get(
                    "/metrics", headers={"Accept-Encoding": "gzip"}, timeout=10.0
                ).status
            except (OSError, http.client.HTTPException) as exc:
                status = repr(exc)
            with lock:
                results.append((status, time.monotonic() - started))

    threads = [threading.Thread(target=scrape) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [status for status, _ in results if status != 200]
    assert len(results) == workers * each and not failed, failed[:10]
    slowest = max(seconds for _, seconds in results)
    assert slowest < 5.0, f"slowest scrape took {slowest:.1f}s"  # no SYN retransmits, no queue


def test_idle_connections_stop_neither_rounds_nor_fresh_scrapes(exporter: Exporter) -> None:
    before = exporter.process_status()
    first_round = last_round(exporter)
    idle: list[socket.socket] = []
    lock = threading.Lock()

    def connect(count: int) -> None:
        for _ in range(count):
            sock = socket.socket()
            sock.settimeout(5)
            try:
                sock.connect((exporter.host, exporter.port))
            except OSError:
                sock.close()
                continue
            with lock:
                idle.append(sock)

    openers = [threading.Thread(target=connect, args=(22,)) for _ in range(50)]  # 1,100
    for opener in openers:
        opener.start()
    scrapes, most_fds = [], 0
    try:
        end = time.monotonic() + HEAD_SECONDS + 2
        while time.monotonic() < end:
            started = time.monotonic()
            scrapes.append((exporter.get("/-/ready", timeout=3.0).status, started))
            most_fds = max(most_fds, exporter.process_status()["fds"])
            time.sleep(0.25)
        rounds = last_round(exporter)
        after = exporter.process_status()
    finally:
        for opener in openers:
            opener.join()
        for sock in idle:
            sock.close()
    assert len(idle) >= 1000, f"only {len(idle)} idle connections could be opened"
    assert all(status == 200 for status, _ in scrapes), scrapes
    assert most_fds < NOFILE - 64, f"{most_fds} files open: idle clients ate the reserve"
    assert rounds >= first_round + 3, "rounds stalled while idle connections were open"
    cpu = (after["cpu_ms"] - before["cpu_ms"]) / 1000 / (HEAD_SECONDS + 2)
    assert cpu < 0.5, f"the exporter used {cpu:.0%} of a CPU with idle connections open"
    assert after["Threads"] <= before["Threads"] + 4, "idle connections hold threads"
    log = exporter.log()
    assert "round failed" not in log and "accept failed" not in log


def test_slow_and_silent_clients_are_cut_off_without_holding_threads(exporter: Exporter) -> None:
    threads_before = exporter.process_status()["Threads"]
    silent = [socket.create_connection((exporter.host, exporter.port)) for _ in range(50)]
    slow = socket.create_connection((exporter.host, exporter.port), timeout=10)
    request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: y\r\n" * 100 + b"\r\n"
    started = time.monotonic()
    cut_after = None
    try:
        for byte in request:  # one byte every 0.2 s: the head would take 200 s
            try:
                slow.send(bytes([byte]))
            except OSError:
                cut_after = time.monotonic() - started
                break
            time.sleep(0.2)
            if time.monotonic() - started > 15:
                break
        assert cut_after is not None and cut_after < HEAD_SECONDS + 3, cut_after
        assert exporter.process_status()["Threads"] <= threads_before + 4
        open_ = set(silent)

        def all_closed() -> bool:
            readable, _, _ = select.select(list(open_), [], [], 0.1)
            open_.difference_update(s for s in readable if _closed(s))
            return not open_

        wait_until(all_closed, "every silent client cut off", deadline=3.0)
    finally:
        slow.close()
        for sock in silent:
            sock.close()


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except OSError:
        return True  # reset


# --- bodies and malformed requests ---------------------------------------------------------


def test_a_huge_body_is_refused_unread(exporter: Exporter) -> None:
    rss_before = exporter.process_status()["VmRSS"]
    size = 200 * 1024 * 1024
    answers: list[str] = []

    def post(path: str) -> None:
        with socket.create_connection((exporter.host, exporter.port), timeout=5) as sock:
            head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {size}\r\n\r\n"
            sock.sendall(head.encode())
            chunk, sent = b"x" * 65536, 0
            try:
                while sent < size:
                    sent += sock.send(chunk)
            except OSError:
                pass  # refused: the exporter closed the connection without reading
            try:
                answers.append(sock.recv(200).split(b"\r\n", 1)[0].decode())
            except OSError:
                answers.append("reset")
            assert sent < size, f"the exporter took all {size >> 20} MiB of {path}"

    posts = [threading.Thread(target=post, args=(p,)) for p in ("/-/reload", "/-/reload", "/no")]
    for thread in posts:
        thread.start()
    for thread in posts:
        thread.join()
    grown_kib = exporter.process_status()["VmRSS"] - rss_before
    assert grown_kib < 16 * 1024, f"RSS grew by {grown_kib >> 10} MiB"
    assert sorted(answers)[:2] == [
        "HTTP/1.1 404 Not Found",
        "HTTP/1.1 413 Request Entity Too Large",
    ]
    # A client that asks first gets the 413 without sending a byte of the body.
    expect = (
        "POST /-/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        f"Content-Length: {size}"
    )
    assert raw(exporter, f"{expect}\r\n\r\n".encode()) == "HTTP/1.1 413 Request Entity Too Large"
    assert exporter.get("/-/healthy").status == 200


MALFORMED = {
    "Content-Length: abc": (
        b"POST /-/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n"
    ),
    "two Content-Lengths": (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
    ),
    "garbage request line": b"\x16\x03\x01\x02\x00 hello there\r\n\r\n",
    "no HTTP version": b"GET /metrics\r\n\r\n",
    "oversized header": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
    + b"a" * 70000
    + b"\r\n\r\n",
    "too many headers": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    + b"X-Many: y\r\n" * 2000
    + b"\r\n",
    "no Host": b"GET /metrics HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_requests_get_400_and_no_traceback(exporter: Exporter, request_bytes) -> None:
    assert raw(exporter, request_bytes) == "HTTP/1.1 400 Bad Request"
    assert exporter.get("/-/healthy").status == 200
    exporter.wait_for_log("http bad request")
    assert_no_raw_traceback(exporter)


def test_unsupported_methods_are_refused(exporter: Exporter) -> None:
    response = exporter.request("DELETE", "/metrics")
    assert response.status == 405 and "GET" in response.headers["Allow"]
    chunked = (
        b"POST /-/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    assert raw(exporter, chunked) == "HTTP/1.1 411 Length Required"


# --- headers --------------------------------------------------------------------------------


def test_every_response_says_nosniff_and_the_page_has_a_strict_policy(exporter: Exporter) -> None:
    page = exporter.get("/")
    assert page.status == 200
    assert page.headers["Content-Security-Policy"] == PAGE_POLICY
    for path in ("/", "/metrics", "/api/status", "/-/healthy", "/-/ready", "/nope"):
        response = exporter.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Cache-Control"] == "no-store", path
    with socket.create_connection((exporter.host, exporter.port), timeout=5) as sock:
        sock.sendall(MALFORMED["garbage request line"])
        assert b"X-Content-Type-Options: nosniff" in sock.recv(4096)
    head = exporter.request("HEAD", "/")
    assert head.status == 200 and head.body == b"" and int(head.headers["Content-Length"]) > 0


def test_keep_alive_serves_several_requests_on_one_connection(exporter: Exporter) -> None:
    connection = exporter.connection()
    try:
        for path in ("/-/healthy", "/metrics", "/api/status", "/nope", "/-/ready"):
            connection.request("GET", path)
            answer = connection.getresponse()
            answer.read()
            assert answer.status in (200, 404), path
        assert connection.sock is not None  # still the same, open connection
    finally:
        connection.close()


def test_a_silent_tls_client_is_cut_off_while_others_scrape(serve, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    web_config = tmp_path / "web.yml"
    web_config.write_text(f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n")
    exporter = serve(web_config=web_config, tls=ssl.create_default_context(cafile=str(cert)))
    silent = socket.create_connection((exporter.host, exporter.port), timeout=HEAD_SECONDS + 3)
    started = time.monotonic()
    try:
        assert exporter.get("/metrics").status == 200
        assert _closed(silent)  # by the exporter, never answered
        assert time.monotonic() - started < HEAD_SECONDS + 2
    finally:
        silent.close()
    assert exporter.get("/-/healthy").status == 200


# --- the connection cap, in-process with an application that takes its time ----------------


def test_at_the_cap_idle_connections_make_room_and_busy_ones_get_503() -> None:
    release = threading.Event()

    class Slow:
        async def respond(self, request: Request) -> Response:
            while not release.is_set():
                await asyncio.sleep(0.01)
            return plain(200, "done")

    server = HttpServer(("127.0.0.1", 0), Slow(), limits=Limits(max_connections=16))
    assert server.max_connections == 16
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    address = server.server_address
    idle = [socket.create_connection(address, timeout=5) for _ in range(16)]
    busy = []
    try:
        for _ in range(16):  # each one pushes out the connection idle the longest
            busy.append(socket.create_connection(address, timeout=5))
            busy[-1].sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        wait_until(lambda: all(_closed(s) for s in idle), "the idle ones closed to make room")
        time.sleep(0.2)  # every busy request has reached the application
        assert raw_at(address, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == (
            "HTTP/1.1 503 Service Unavailable"
        )
        release.set()
        for sock in busy:
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        for sock in idle + busy:
            sock.close()
    serving.join(2)
    assert not serving.is_alive()


def raw_at(address: tuple[str, int], data: bytes) -> str:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        return sock.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
