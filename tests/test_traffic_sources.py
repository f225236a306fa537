"""Resolvers' own traffic logs, as `dnsmon learn` will read them: real Unbound, BIND,
PowerDNS Recursor and Knot Resolver log the questions test clients ask from distinct
loopback addresses (tests/traffic.py), and the samples in tests/data/learn/ hold what
the README there says.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import (
    PACKAGES,
    TRAFFIC_PROGRAMS,
    BindResolver,
    Knot,
    KnotResolver,
    PdnsRecursor,
    Unbound,
    find_binary,
    missing_binaries,
)
from traffic import (
    BIND_QUERY,
    CLIENTS,
    DATA,
    DNSTAP_CONTENT_TYPE,
    PDNS_LEGACY_QUESTION,
    QUESTIONS,
    UNBOUND_QUERY,
    UNBOUND_REPLY,
    ZEEK_FIELDS,
    DnstapCapture,
    DnstapMessage,
    Question,
    ask_questions,
    cut_mid_frame,
    decode_dnstap,
    dnstap_read_yaml,
    forwarding,
    learn_authority,
    pdns_fields,
    read_dnstap,
    read_frames,
    read_rotated,
    rotate,
    write_frames,
)

pytestmark = pytest.mark.integration

# The last question repeats the first A question of ehr-db: answered from cache.
CACHED = QUESTIONS[-1]


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    missing = missing_binaries((*TRAFFIC_PROGRAMS, "kresd", "knotd", "named", "unbound"))
    if missing:
        packages = " ".join(sorted({PACKAGES[name] for name in missing}))
        pytest.fail(f"missing {', '.join(missing)}: install the Debian packages {packages}")


@pytest.fixture(scope="module")
def authority() -> Iterator[Knot]:
    with learn_authority() as knot:
        yield knot


def _wanted(question: Question) -> tuple[str, str, str]:
    return question.source, question.name, question.rdtype


def _client_messages(messages: list[DnstapMessage], kind: str) -> list[DnstapMessage]:
    return [m for m in messages if m.type == kind and m.query_address in CLIENTS.values()]


def assert_dnstap_has_questions(messages: list[DnstapMessage], identity: str) -> None:
    """Each question once as CLIENT_QUERY and once as CLIENT_RESPONSE with its rcode,
    from its own source address, over its transport."""
    assert {m.identity for m in messages} == {identity}
    for kind in ("CLIENT_QUERY", "CLIENT_RESPONSE"):
        seen = sorted(
            (m.query_address, *m.question, m.protocol, m.rcode if "RESPONSE" in kind else "")
            for m in _client_messages(messages, kind)
        )
        expected = sorted(
            (*_wanted(q), "TCP" if q.tcp else "UDP", q.rcode if "RESPONSE" in kind else "")
            for q in QUESTIONS
        )
        assert seen == expected, kind


def test_client_addresses_need_no_address_on_lo() -> None:
    # All of 127.0.0.0/8 is local on Linux: a client socket binds any of it.
    listed = subprocess.run(
        [find_binary("ip"), "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True
    ).stdout
    for address in CLIENTS.values():
        assert f" {address}/" not in listed
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                sock.bind((address, 0))
                assert sock.getsockname()[0] == address


def test_unbound_reply_log_names_client_question_and_rcode(authority: Knot) -> None:
    with Unbound(forwarding(authority), log_replies=True) as unbound:
        ask_questions(unbound)
        text = unbound.query_log_path.read_text()
        assert unbound.log_path.read_text().count("\n") <= 2  # only the command line
    replies = [m for line in text.splitlines() if (m := UNBOUND_REPLY.match(line))]
    assert all(m["epoch"] and " info: " in m[0] for m in replies)  # untagged: "info:"
    assert not [line for line in text.splitlines() if UNBOUND_QUERY.match(line)]
    seen = {(m["client"], m["qname"], m["qtype"], m["rcode"], m["cached"]) for m in replies}
    for index, question in enumerate(QUESTIONS):
        # From cache when the same name and type was asked before (by anyone).
        cached = (
            "1" if _wanted(question)[1:] in {_wanted(q)[1:] for q in QUESTIONS[:index]} else "0"
        )
        wanted = (question.source, question.name + ".", question.rdtype, question.rcode, cached)
        assert wanted in seen
    # No client port, no transport, no answer data: a CNAME chain is just NOERROR.
    assert "127.30.1.10" not in text and "app.other.internal" not in text


def test_unbound_tagged_query_and_reply_lines(authority: Knot) -> None:
    with Unbound(
        forwarding(authority), log_queries=True, log_replies=True, log_tag_queryreply=True,
        log_time_ascii=True,
    ) as unbound:  # fmt: skip
        ask_questions(unbound)
        lines = unbound.query_log_path.read_text().splitlines()
    queries = [m for line in lines if " query: " in line and (m := UNBOUND_QUERY.match(line))]
    replies = [m for line in lines if " reply: " in line and (m := UNBOUND_REPLY.match(line))]
    assert all(m["ascii"] and not m["epoch"] for m in queries + replies)
    for found in (queries, replies):
        assert {(m["client"], m["qname"], m["qtype"]) for m in found} >= {
            (q.source, q.name + ".", q.rdtype) for q in QUESTIONS
        }
    # Each query line comes right before its reply line.
    tagged = [line.split("] ", 1)[1] for line in lines if " query: " in line or " reply: " in line]
    for query, reply in zip(tagged[0::2], tagged[1::2], strict=True):
        assert query.replace("query:", "reply:") == reply.rsplit(" ", 4)[0]


@pytest.mark.parametrize("tcp", [False, True], ids=["unix", "tcp"])
def test_unbound_dnstap_reaches_a_capture(authority: Knot, tmp_path: Path, tcp: bool) -> None:
    output = tmp_path / "unbound.dnstap"
    with DnstapCapture(output, tcp=tcp) as tap:
        options = {"dnstap_tcp": tap.endpoint} if tcp else {"dnstap_socket": tap.socket_path}
        with Unbound(forwarding(authority), dnstap_identity="resolver-a", **options) as unbound:
            ask_questions(unbound)
            tap.wait_for(2 * len(QUESTIONS))
        tap.stop()
    parsed = read_frames(output.read_bytes())
    assert parsed.content_type == DNSTAP_CONTENT_TYPE and parsed.stopped and not parsed.trailing
    messages = read_dnstap(output)
    assert_dnstap_has_questions(messages, "resolver-a")
    assert {m.version for m in messages} == {"unbound 1.17.1"}
    # BIND's dnstap-read agrees with the decoder here.
    decoded = dnstap_read_yaml(output)
    assert [d["message"]["type"] for d in decoded] == [m.type for m in messages]
    assert [d["message"]["query_address"] for d in decoded] == [m.query_address for m in messages]
    responses = {
        (d["message"]["query_address"], d["message"]["response_message_data"]["status"])
        for d in decoded
        if d["message"]["type"] == "CLIENT_RESPONSE"
    }
    assert ("127.91.0.1", "NXDOMAIN") in responses


def test_unbound_logfile_rotates_with_log_reopen(authority: Knot) -> None:
    service = [q for q in QUESTIONS if q.source == CLIENTS["service-host"]]
    with Unbound(forwarding(authority), log_replies=True, log_tag_queryreply=True) as unbound:
        log = unbound.query_log_path
        for round_ in range(3):
            if round_:
                rotated = rotate(log)
                unbound.reopen_log()
            ask_questions(unbound, service)
        assert [p.name for p in rotated] == ["unbound.log.1", "unbound.log.2.gz"]
        for path in (log, *rotated):
            text = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            assert text.decode().count(" reply: 127.90.0.7 ") == len(service), path
        everything = read_rotated(log).decode()
    assert everything.count("reply: 127.90.0.7 ehr-db.region.internal. A IN NOERROR") == 3
    assert everything.index("start of service") < everything.index("reply: 127.90.0.7")


@pytest.mark.parametrize(
    ("print_time", "category", "stamp"),
    [
        ("yes", False, r"\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d\.\d{3}"),
        ("iso8601-utc", True, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"),
    ],
)
def test_bind_querylog_lines(authority: Knot, print_time: str, category: bool, stamp: str) -> None:
    with BindResolver(
        forwarding(authority), querylog=True, querylog_time=print_time,  # type: ignore[arg-type]
        querylog_category=category,
    ) as bind:  # fmt: skip
        ask_questions(bind)
        deadline = time.monotonic() + 5
        while bind.query_log_path.read_text().count("127.91.0.1#") < 4:
            assert time.monotonic() < deadline, bind.query_log_path.read_text()
            time.sleep(0.05)
        lines = bind.query_log_path.read_text().splitlines()
        assert (
            "running" in bind.log_path.read_text()
        )  # named's own messages still reach the server log
    found = [m for line in lines if (m := BIND_QUERY.match(line))]
    assert len(found) == len(lines)
    assert all(re.fullmatch(stamp, m["time"]) for m in found)
    assert all(("queries: info: " in m[0]) == category for m in found)
    seen = {(m["client"], m["qname"], m["qtype"], "T" in m["flags"]) for m in found}
    assert seen >= {(*_wanted(q), q.tcp) for q in QUESTIONS}
    # One line per question, asked: no rcode, no answer.
    assert not any(word in "\n".join(lines) for word in ("NXDOMAIN", "NOERROR", "127.20.1.15"))


def test_bind_dnstap_file_before_and_after_stop(authority: Knot, tmp_path: Path) -> None:
    output = tmp_path / "bind.dnstap"
    with BindResolver(forwarding(authority), dnstap_file=output) as bind:
        ask_questions(bind)
        deadline = time.monotonic() + 10
        while True:  # named writes out about once a second
            live = read_frames(output.read_bytes()) if output.exists() else None
            if live and _client_messages([*map(decode_dnstap, live.frames)], "CLIENT_QUERY"):
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert live.content_type == DNSTAP_CONTENT_TYPE and not live.stopped
        bind.stop()
    finished = read_frames(output.read_bytes())
    assert finished.stopped and not finished.trailing
    assert_dnstap_has_questions(read_dnstap(output), "bind-resolver")
    decoded = dnstap_read_yaml(output)
    assert {d["identity"] for d in decoded} == {"bind-resolver"}


def test_bind_dnstap_to_a_unix_socket(authority: Knot, tmp_path: Path) -> None:
    output = tmp_path / "bind-socket.dnstap"
    with DnstapCapture(output) as tap:
        with BindResolver(forwarding(authority), dnstap_socket=tap.socket_path) as bind:
            ask_questions(bind)
            messages = tap.wait_for(2 * len(QUESTIONS))
            while len(_client_messages(messages, "CLIENT_RESPONSE")) < len(QUESTIONS):
                messages = tap.wait_for(len(messages) + 1)
        tap.stop()
    assert_dnstap_has_questions(read_dnstap(output), "bind-resolver")


def test_bind_reopens_its_querylog_on_sighup(authority: Knot) -> None:
    first, second = QUESTIONS[:3], QUESTIONS[10:13]
    with BindResolver(forwarding(authority), querylog=True) as bind:
        ask_questions(bind, first)
        rotate(bind.query_log_path, compress=False)
        bind.reopen_logs()
        ask_questions(bind, second)
        deadline = time.monotonic() + 5
        while "15.1.20.127.in-addr.arpa" not in bind.query_log_path.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        old = Path(f"{bind.query_log_path}.1").read_text()
        new = bind.query_log_path.read_text()
    assert all(f"{q.source}#" in old and f"query: {q.name} " in old for q in first)
    assert "127.91.0.1#" not in old
    assert all(f"query: {q.name} IN {q.rdtype} " in new for q in second)


@pytest.mark.parametrize("structured", [True, False], ids=["structured", "legacy"])
def test_pdns_recursor_logs_each_question(authority: Knot, structured: bool) -> None:
    with PdnsRecursor(forwarding(authority), structured_logging=structured) as pdns:
        ask_questions(pdns)
        deadline = time.monotonic() + 5
        while "packet cache" not in pdns.query_log_path.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        lines = pdns.query_log_path.read_text().splitlines()
    if structured:
        asked = [pdns_fields(line) for line in lines if 'msg="Question' in line]
        seen = {(f["remote"].rsplit(":", 1)[0], f["qname"], f["qtype"], f["proto"]) for f in asked}
        assert seen >= {(*_wanted(q), "tcp" if q.tcp else "udp") for q in QUESTIONS}
        answers = {(f["qname"], f["qtype"]): f["rcode"] for line in lines
                   if 'msg="Answer"' in line and (f := pdns_fields(line))}  # fmt: skip
        assert answers[("billing.region.internal", "A")] == "3"
        assert answers[("ehr-db.region.internal", "A")] == "0"
        cached = [f for f in asked if "packet cache" in f["msg"]]
        assert [(f["remote"].rsplit(":", 1)[0], f["qname"]) for f in cached] == [
            (CACHED.source, CACHED.name)
        ]
    else:
        found = [m for line in lines if (m := PDNS_LEGACY_QUESTION.match(line))]
        seen = {(m["client"], m["qname"], m["qtype"], bool(m["tcp"])) for m in found}
        assert seen == {(*_wanted(q), q.tcp) for q in QUESTIONS if q is not CACHED} | {
            ("127.0.0.1", PdnsRecursor.READY_ZONE, "SOA", False)
        }
        # The old format's packet-cache line names the client but not the question.
        cached = [line for line in lines if "answered from packet cache" in line]
        assert len(cached) == 1
        assert re.search(rf"tag=0 from {re.escape(CACHED.source)}:\d+$", cached[0])
        assert CACHED.name not in cached[0]


def test_knot_resolver_dnstap(authority: Knot, tmp_path: Path) -> None:
    output = tmp_path / "kresd.dnstap"
    with DnstapCapture(output) as tap:
        with KnotResolver(forwarding(authority), dnstap_socket=tap.socket_path) as kresd:
            ask_questions(kresd)
            tap.wait_for(2 * len(QUESTIONS))
        tap.stop()
    assert_dnstap_has_questions(read_dnstap(output), "kresd")


def test_frame_helpers_on_a_real_capture(tmp_path: Path) -> None:
    data = (DATA / "unbound-client.dnstap").read_bytes()
    parsed = read_frames(data)
    # fstrm_capture writes exactly what write_frames does.
    assert write_frames(parsed.frames, parsed.content_type or "") == data
    cut = cut_mid_frame(data, 17)
    partial = read_frames(cut)
    assert partial.frames == parsed.frames[:17] and not partial.stopped and partial.trailing
    # dnstap-read shows the complete frames of a cut file and says nothing of the rest.
    path = tmp_path / "cut.dnstap"
    path.write_bytes(cut)
    assert len(dnstap_read_yaml(path)) == 17
    unfinished = tmp_path / "unfinished.dnstap"
    unfinished.write_bytes(write_frames(parsed.frames[:5], stop=False))
    assert len(dnstap_read_yaml(unfinished)) == 5


def test_rotate_like_logrotate(tmp_path: Path) -> None:
    log = tmp_path / "queries.log"
    for round_ in range(5):
        log.write_text(f"round {round_}\n")
        rotated = rotate(log, keep=3)
    assert [p.name for p in rotated] == ["queries.log.1", "queries.log.2.gz", "queries.log.3.gz"]
    assert not log.exists()
    assert read_rotated(log) == b"round 2\nround 3\nround 4\n"
    log.write_text("live\n")
    rotate(log, keep=3, compress=False, copytruncate=True)
    assert log.exists() and log.read_text() == ""
    assert Path(f"{log}.1").read_text() == "live\n"
    assert read_rotated(log) == b"round 3\nround 4\nlive\n"
    fresh = tmp_path / "fresh" / "other.log"
    fresh.parent.mkdir()
    for round_ in range(3):
        fresh.write_text(f"round {round_}\n")
        rotate(fresh, keep=2, delay_compress=False)
    assert sorted(p.name for p in fresh.parent.iterdir()) == ["other.log.1.gz", "other.log.2.gz"]
    assert read_rotated(fresh) == b"round 1\nround 2\n"


def test_helpers_clean_up(authority: Knot, tmp_path: Path) -> None:
    tap = DnstapCapture(tmp_path / "x.dnstap").start()
    pid = tap._proc.pid if tap._proc else 0
    unbound = Unbound(forwarding(authority), log_replies=True, dnstap_socket=tap.socket_path)
    pdns = PdnsRecursor(forwarding(authority))
    dirs = [tap.dir, unbound.dir, pdns.dir]
    unbound.start()
    pdns.start()
    server_pids = [unbound.pid, pdns.pid]
    for managed in (unbound, pdns, tap):
        managed.close()
    assert not any(d.exists() for d in dirs)
    for gone in (pid, *server_pids):
        assert gone and not Path(f"/proc/{gone}").exists()  # ended and reaped
    assert (tmp_path / "x.dnstap").exists()  # the output is the caller's


# ---------------------------------------------------------------- the samples

README = DATA / "README.md"


def _sample_files() -> list[str]:
    return sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file() and p != README)


def test_every_sample_is_described_in_the_readme() -> None:
    text = README.read_text()
    files = _sample_files()
    assert len(files) >= 15
    for name in files:
        assert f"`{name}`" in text, name


@pytest.mark.parametrize(
    ("name", "identity"),
    [
        ("unbound-client.dnstap", "unbound"),
        ("bind-client.dnstap", "bind-resolver"),
        ("kresd-client.dnstap", "kresd"),
        ("unbound-client-reordered.dnstap", "unbound"),
    ],
)
def test_dnstap_samples_hold_every_question(name: str, identity: str) -> None:
    assert_dnstap_has_questions(read_dnstap(DATA / name), identity)


def test_unfinished_dnstap_samples() -> None:
    live = read_frames((DATA / "bind-client-live.dnstap").read_bytes())
    assert not live.stopped and live.trailing  # copied while named wrote it
    cut = read_frames((DATA / "unbound-client-cut.dnstap").read_bytes())
    assert len(cut.frames) == 17 and cut.trailing and not cut.stopped
    reordered = [m.time for m in read_dnstap(DATA / "unbound-client-reordered.dnstap")]
    assert reordered != sorted(reordered)
    in_order = [m.time for m in read_dnstap(DATA / "unbound-client.dnstap")]
    assert in_order == sorted(in_order)


def _sources(text: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, text)) & set(CLIENTS.values())


def test_text_samples_parse_with_the_documented_patterns() -> None:
    replies = (DATA / "unbound-replies.log").read_text().splitlines()
    assert sum(bool(UNBOUND_REPLY.match(line)) for line in replies) == len(QUESTIONS) + 1
    tagged = (DATA / "unbound-queryreply.log").read_text().splitlines()
    assert sum(bool(UNBOUND_QUERY.match(line)) for line in tagged) == len(QUESTIONS) + 1
    for name in ("bind-query.log", "bind-query-iso8601.log"):
        lines = (DATA / name).read_text().splitlines()
        assert all(BIND_QUERY.match(line) for line in lines), name
        assert _sources("\n".join(lines), r"([\d.]+)#") == set(CLIENTS.values())
    legacy = (DATA / "pdns-recursor-legacy.log").read_text().splitlines()
    assert sum(bool(PDNS_LEGACY_QUESTION.match(line)) for line in legacy) == len(QUESTIONS)
    structured = (DATA / "pdns-recursor.log").read_text()
    assert _sources(structured, r'remote="([\d.]+):') == set(CLIENTS.values())


def test_zeek_samples_follow_the_documented_format() -> None:
    lines = (DATA / "zeek-dns.log").read_text().splitlines()
    assert lines[0] == "#separator \\x09"
    assert lines[6].split("\t") == ["#fields", *ZEEK_FIELDS]
    assert lines[-1].startswith("#close\t")
    rows = [line.split("\t") for line in lines if not line.startswith("#")]
    assert all(len(row) == len(ZEEK_FIELDS) for row in rows)
    records = [json.loads(line) for line in (DATA / "zeek-dns.json").read_text().splitlines()]
    assert len(records) == len(rows) == len(QUESTIONS) + 1
    for record, row in zip(records, rows, strict=True):
        assert list(record) == [f for f in ZEEK_FIELDS if f in record]
        assert record["id.orig_h"] == row[2] and record["query"] == row[9]
    assert {(r["id.orig_h"], r["query"], r["qtype_name"], r["rcode_name"]) for r in records} >= {
        (*_wanted(q), q.rcode) for q in QUESTIONS
    }
