"""learn where traffic and time misbehave: a "no DNS" backup asking names that fail,
names that only look like search-suffix noise, failures and owners older than the
window, times no log can have, damaged records and cut compressed files, and the live
listener full of senders that went quiet."""

from __future__ import annotations

import gzip
import io
import socket
import time
from pathlib import Path

import dns.rcode
import pytest
from dnsmon_cli import dnsmon
from dnstap_pb import dnstap_pb2
from dnstapfiles import T0, response, stream, write
from test_learn import CONFIG, PAPER, SERVICE, kinds, learn

from monitor.config import parse
from monitor.judging.graph import build
from monitor.learning import readers
from monitor.learning.learner import Learner
from monitor.learning.messages import Malformed, Message, SourceStats
from monitor.learning.readers import powerdns, zeek
from monitor.learning.readers.framestreams import (
    ACCEPT,
    CONTENT_TYPE,
    READY,
    Control,
    Decoder,
    control,
)
from monitor.serving import dnstap as listener_module
from monitor.serving.dnstap import Listener
from monitor.serving.learning import LiveLearning

NXDOMAIN, SERVFAIL = dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL
DAY = 86400.0
SSO = """\
  - name: sso
    hosts: [10.40.0.0/24]
    depends_on: [sso-db.region.internal]
"""


def test_a_no_dns_backup_whose_names_fail_still_uses_dns(tmp_path: Path) -> None:
    found = learn(tmp_path, response(PAPER, "wardlist.region.internal", rcode=SERVFAIL))
    assert ("dns_free_backup_resolves", "ehr", "paper", "wardlist.region.internal") in kinds(found)
    assert ("broken_dependency", "ehr", "paper", "wardlist.region.internal") in kinds(found)


def test_a_service_is_not_asked_for_the_names_of_a_service_it_needs(tmp_path: Path) -> None:
    config = CONFIG.replace(
        "  - name: ehr-db.region.internal\n",
        "  - name: ehr-db.region.internal\n  - name: sso-db.region.internal\n",
    )
    config = (
        config.replace(
            "depends_on: [ehr-db.region.internal]\n",
            "depends_on: [ehr-db.region.internal, service:sso]\n",
        )
        + SSO
    )
    found = learn(tmp_path, response(SERVICE, "ehr-db.region.internal"),
                  response("10.40.0.5", "sso-db.region.internal"), config=config)  # fmt: skip
    assert [f for f in found if f["kind"] == "unused"] == []


def test_a_real_name_is_not_taken_for_search_suffix_noise(tmp_path: Path) -> None:
    found = kinds(learn(
        tmp_path,
        response(SERVICE, "api.region.internal"),
        response(SERVICE, "api.vendor.example", rcode=NXDOMAIN),
        response(SERVICE, "printer.region.internal"),
        response(SERVICE, "printer.ward.region.internal", rcode=NXDOMAIN),
    ))  # fmt: skip
    assert ("broken_dependency", "ehr", None, "api.vendor.example") in found
    assert ("noise", "ehr", None, "api.vendor.example") not in found
    assert ("noise", "ehr", None, "printer.ward.region.internal") in found


def test_a_failure_older_than_the_window_is_not_a_broken_dependency(tmp_path: Path) -> None:
    found = kinds(learn(
        tmp_path,
        response(SERVICE, "lab-api.region.internal", rcode=SERVFAIL, at=T0 - 20 * DAY),
        response(SERVICE, "lab-api.region.internal", at=T0 - 1),
        response(SERVICE, "ehr-db.region.internal", at=T0),
    ))  # fmt: skip
    assert ("unmapped", "ehr", None, "lab-api.region.internal") in found
    assert not [k for k in found if k[0] == "broken_dependency"]


def test_an_owner_heard_just_before_the_window_is_not_told_unused(tmp_path: Path) -> None:
    found = learn(
        tmp_path,
        response("10.31.0.7", "lab.region.internal", at=T0 - 7 * DAY - 100),
        response(SERVICE, "ehr-db.region.internal", at=T0),
    )  # fmt: skip
    assert [f for f in found if f["kind"] == "unused"] == []


def test_unused_says_on_how_many_days_the_owner_was_heard(tmp_path: Path) -> None:
    found = learn(tmp_path, *(response(SERVICE, "lab-api.region.internal", at=T0 - d * DAY)
                              for d in (0, 2, 3)))  # fmt: skip
    [unused] = [f for f in found if f["kind"] == "unused"]
    assert (unused["name"], unused["days_heard"]) == ("ehr-db.region.internal", 3)


@pytest.mark.parametrize("at", [float("inf"), float("nan"), 1e300, 2.0**40, 5.0])
def test_a_time_no_log_can_have_is_damage_not_a_crash(at: float) -> None:
    learner, stats = Learner(parse(CONFIG)), SourceStats("x", "test")
    learner.read([Message(at, SERVICE, "a.region.internal", "A", "NOERROR"),
                  Message(T0, SERVICE, "b.region.internal", "A", "NOERROR")], stats)  # fmt: skip
    assert (stats.malformed, stats.kept) == (1, 1)
    assert learner.learned.newest == T0


def test_a_time_far_ahead_counts_as_damage_through_the_command(tmp_path: Path) -> None:
    config = tmp_path / "probes.yaml"
    config.write_text(CONFIG)
    tap = write(tmp_path / "tap.dnstap", [response(SERVICE, "a.region.internal", at=2.0**40),
                                          response(PAPER, "print.region.internal")])  # fmt: skip
    run = dnsmon(config, "learn", "--from", str(tap), "--days", "3650", "--format", "json")
    assert run.code == 2, run.stderr
    assert run.json["sources"][0]["malformed"] == 1


def test_zeek_answers_null_and_powerdns_rcodes_out_of_range() -> None:
    line = ('{"ts":1790000000.0,"id.orig_h":"10.30.1.5","query":"a.region.internal",'
            '"qtype_name":"A","rcode_name":"NOERROR","answers":null}\n')  # fmt: skip
    [record] = list(zeek.read_json(io.BytesIO(line.encode())))
    assert isinstance(record, Message) and record.cnames == ()
    legacy = ("Dec 06 15:10:17 1 [9/1] question for 'a.region.internal|A' from 10.30.1.5:5\n"
              "Dec 06 15:10:17 1 [9/1] answer to question 'a.region.internal|A': 0 answers, "
              "rcode=99999\n")  # fmt: skip
    items = list(powerdns.read(io.BytesIO(legacy.encode())))
    assert isinstance(items[-1], Malformed)


def test_a_compressed_file_still_being_written_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    whole = gzip.compress(stream([response(SERVICE, f"n{i}.region.internal") for i in range(200)]))
    cut = tmp_path / "tap.dnstap.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    config = tmp_path / "probes.yaml"
    config.write_text(CONFIG)
    other = write(tmp_path / "other.dnstap", [response(PAPER, "print.region.internal")])
    run = dnsmon(config, "learn", "--from", str(cut), "--from", str(other), "--format", "json")
    assert run.code == 2, run.stderr  # the second file was read too
    first = run.json["sources"][0]
    assert first["malformed"] == 1 and 0 < first["messages"] < 200


def test_a_compressed_file_of_several_members_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "replies.log.gz"  # what `cat a.gz b.gz` and some log shippers make
    path.write_bytes(b"".join(gzip.compress(
        f"[{int(T0)}] unbound[1:0] reply: {SERVICE} n{i}.region.internal. A IN NOERROR 0 0 60\n"
        .encode()) for i in range(3)))  # fmt: skip
    fmt, items = readers.read(path)
    assert fmt == "unbound"
    assert [m.name for m in items] == [f"n{i}.region.internal" for i in range(3)]  # type: ignore[union-attr]


def test_live_a_question_and_its_answer_count_once(tmp_path: Path) -> None:
    cfg = parse(CONFIG)
    live = LiveLearning(cfg)
    query = dnstap_pb2.Message.CLIENT_QUERY
    for frame in (response(SERVICE, "lab-api.region.internal", kind=query),
                  response(SERVICE, "lab-api.region.internal")):  # fmt: skip
        live._frame("unix:x", frame[4:])  # as the listener hands it: without its length
    [unmapped] = [f for f in live.learned(build(cfg)).findings if f["kind"] == "unmapped"]
    assert unmapped["count"] == 1


def _handshake(sock: socket.socket) -> Control:
    sock.sendall(control(READY, CONTENT_TYPE))
    decoder = Decoder()
    while True:
        decoder.feed(sock.recv(4096))
        for frame in decoder.frames():
            assert isinstance(frame, Control)
            return frame


def test_senders_that_went_quiet_do_not_lock_out_a_new_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(listener_module, "MAX_CONNECTIONS", 4)
    path = tmp_path / "tap.sock"
    listener = Listener((f"unix:{path}",), lambda _s, _f: None, lambda _s: None)
    listener.start()
    quiet = []
    try:
        for _ in range(4):  # connected, then silent for good
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(str(path))
            quiet.append(sock)
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX) as fresh:
            fresh.settimeout(3)
            fresh.connect(str(path))
            assert _handshake(fresh).type == ACCEPT
        quiet[0].settimeout(3)
        assert quiet[0].recv(10) == b""  # the quietest was closed to make room
    finally:
        for sock in quiet:
            sock.close()
        listener.stop()
