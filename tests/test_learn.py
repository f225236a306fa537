"""Learning the map from traffic: reading, attribution, the findings and the fragment,
on dnstap made in the tests (real servers' traffic: tests/test_learn_real.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import dns.rcode
import pytest
import yaml
from dnsmon_cli import dnsmon
from dnstap_pb import dnstap_pb2
from dnstapfiles import T0, response, stream, write
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import parse
from monitor.judging.graph import build
from monitor.judging.learned import findings
from monitor.learning import readers
from monitor.learning.aggregate import Aggregates
from monitor.learning.learner import Learner
from monitor.learning.messages import Malformed, Message, SourceStats
from monitor.learning.owners import Owner, Owners
from monitor.learning.readers.framestreams import Decoder, data_frame

CONFIG = """\
servers:
  - {name: resolver-a, address: 127.0.0.1, port: 5301}
clients:
  - {name: wards, resolvers: [resolver-a], networks: [10.20.0.0/16]}
names:
  - name: ehr-db.region.internal
  - name: ehr-ro.region.internal
  - name: lab.region.internal
services:
  - name: ehr
    hosts: [10.30.1.0/28]
    depends_on: [ehr-db.region.internal]
    backups:
      - {name: ehr-readonly, hosts: [10.31.0.0/24], depends_on: [ehr-ro.region.internal]}
      - {name: paper, hosts: [10.32.0.9], depends_on: []}
  - {name: lab, depends_on: [lab.region.internal]}
"""
SERVICE, READONLY, PAPER, WARD, STRANGER = (
    "10.30.1.5",
    "10.31.0.7",
    "10.32.0.9",
    "10.20.4.4",
    ("10.99.0.1"),
)


def learn(tmp_path: Path, *frames: bytes, config: str = CONFIG, days: int = 7) -> list[dict]:
    path = write(tmp_path / "tap.dnstap", frames)
    cfg = parse(config)
    learner = Learner(cfg)
    fmt, items = readers.read(path)
    assert fmt == "dnstap"
    learner.read(items, SourceStats(str(path), fmt))
    return findings(build(cfg), learner.learned, days)


def kinds(found: list[dict]) -> set[tuple[str, str | None, str | None, str]]:
    return {(f["kind"], f["service"], f["backup"], f["name"]) for f in found}


def test_a_backup_said_to_need_no_dns_that_resolves_names_is_the_headline(tmp_path: Path) -> None:
    found = learn(
        tmp_path, response(PAPER, "print.region.internal", cnames=["print.other.internal"])
    )
    assert found[0]["kind"] == "dns_free_backup_resolves"
    assert (found[0]["service"], found[0]["backup"]) == ("ehr", "paper")
    assert found[0]["cnames"] == ["print.other.internal"]
    assert found[0]["rcodes"] == {"NOERROR": 1}


def test_unmapped_broken_unused_and_noise_are_told_apart(tmp_path: Path) -> None:
    found = learn(
        tmp_path,
        response(SERVICE, "ehr-db.region.internal"),
        response(SERVICE, "lab-api.region.internal", "AAAA"),
        response(SERVICE, "gone.region.internal", rcode=dns.rcode.NXDOMAIN),
        response(SERVICE, "ehr-db.region.internal.region.internal", rcode=dns.rcode.NXDOMAIN),
        response(SERVICE, "5.1.30.10.in-addr.arpa", "PTR"),
        response(READONLY, "lab.region.internal"),
    )
    assert kinds(found) == {
        ("broken_dependency", "ehr", None, "gone.region.internal"),
        ("unmapped", "ehr", None, "lab-api.region.internal"),
        ("unmapped", "ehr", "ehr-readonly", "lab.region.internal"),
        ("unused", "ehr", "ehr-readonly", "ehr-ro.region.internal"),
        ("noise", "ehr", None, "ehr-db.region.internal.region.internal"),
        ("noise", "ehr", None, "5.1.30.10.in-addr.arpa"),
    }
    noise = {f["name"]: f["noise"] for f in found if f["kind"] == "noise"}
    assert noise == {"ehr-db.region.internal.region.internal": "search_suffix",
                     "5.1.30.10.in-addr.arpa": "reverse"}  # fmt: skip


def test_a_name_reached_through_a_service_dependency_is_not_lacking(tmp_path: Path) -> None:
    config = CONFIG.replace("depends_on: [ehr-db.region.internal]",
                            "depends_on: [ehr-db.region.internal, service:lab]")  # fmt: skip
    found = learn(tmp_path, response(SERVICE, "lab.region.internal"), config=config)
    assert not [f for f in found if f["kind"] == "unmapped"]


def test_a_client_group_is_the_owner_only_where_no_service_or_backup_is(tmp_path: Path) -> None:
    found = learn(tmp_path, response(WARD, "wiki.region.internal"))
    assert kinds(found) == {("unmapped", None, None, "wiki.region.internal")}
    assert found[0]["client"] == "wards"


def test_unused_is_said_only_of_owners_heard_in_the_window(tmp_path: Path) -> None:
    """A backup heard only long ago says nothing about its names now."""
    old = T0 - 30 * 86400
    found = learn(tmp_path, response(READONLY, "ehr-ro.region.internal", at=old),
                  response(SERVICE, "ehr-db.region.internal"))  # fmt: skip
    assert not [f for f in found if f["kind"] == "unused"]


def test_foreign_clients_are_counted_and_never_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "tap", [response(STRANGER, "x.region.internal"),
                                    response(SERVICE, "ehr-db.region.internal")])  # fmt: skip
    learner = Learner(parse(CONFIG))
    stats = SourceStats(str(path), "dnstap")
    learner.read(readers.read(path)[1], stats)
    assert (stats.messages, stats.kept, stats.foreign) == (2, 1, 1)
    state = json.dumps(learner.learned.as_json())
    assert STRANGER not in state and SERVICE not in state and "x.region.internal" not in state


def test_a_question_logged_beside_its_answer_counts_once(tmp_path: Path) -> None:
    query = dnstap_pb2.Message.CLIENT_QUERY
    found = learn(tmp_path, response(SERVICE, "lab-api.region.internal", kind=query),
                  response(SERVICE, "lab-api.region.internal"))  # fmt: skip
    [unmapped] = [f for f in found if f["kind"] == "unmapped"]
    assert unmapped["count"] == 1


def test_the_resolvers_own_queries_are_noise(tmp_path: Path) -> None:
    own = dnstap_pb2.Message.RESOLVER_QUERY
    path = write(tmp_path / "tap", [response("127.0.0.1", "x.region.internal", kind=own)])
    stats = SourceStats(str(path), "dnstap")
    Learner(parse(CONFIG)).read(readers.read(path)[1], stats)
    assert (stats.messages, stats.noise, stats.kept) == (1, 1, 0)


def test_a_file_cut_mid_frame_and_frames_out_of_order_are_read(tmp_path: Path) -> None:
    late, early = (
        response(SERVICE, "a.region.internal", at=T0),
        response(SERVICE, "b.region.internal", at=T0 - 3600),
    )
    whole = stream([late, early, response(SERVICE, "c.region.internal")])
    path = tmp_path / "cut.dnstap"
    path.write_bytes(whole[: len(whole) - 20])  # still being written
    items = list(readers.read(path)[1])
    assert [m.name for m in items if isinstance(m, Message)] == ["a.region.internal",
                                                                 "b.region.internal"]  # fmt: skip
    assert not [m for m in items if isinstance(m, Malformed)]


def test_gzip_and_damage(tmp_path: Path) -> None:
    path = tmp_path / "tap.dnstap.1.gz"
    path.write_bytes(gzip.compress(stream([response(SERVICE, "a.region.internal"),
                                           data_frame(b"\x08\x01garbage")])))  # fmt: skip
    fmt, items = readers.read(path)
    found = list(items)
    assert fmt == "dnstap"
    assert isinstance(found[0], Message) and isinstance(found[1], Malformed)
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(readers.UnknownFormat):
        readers.read(tmp_path / "notes.txt")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.integers(1, 50))
def test_any_bytes_fed_in_any_pieces_never_raise_but_malformed(data: bytes, piece: int) -> None:
    decoder = Decoder()
    try:
        for at in range(0, len(data), piece):
            decoder.feed(data[at : at + piece])
            for _ in decoder.frames():
                pass
    except Malformed:
        pass


def test_owners_by_the_longest_block_and_ipv6() -> None:
    owners = Owners(
        parse(CONFIG.replace("hosts: [10.30.1.0/28]", "hosts: [10.30.1.0/28, fd00::/64]"))
    )
    assert owners.of(SERVICE) == (Owner("ehr"),)
    assert owners.of("fd00::5") == (Owner("ehr"),)
    assert owners.of("::ffff:10.30.1.5") == (Owner("ehr"),)
    assert owners.of(WARD) == (Owner(client="wards"),)
    assert owners.of(STRANGER) == () and owners.of("not an address") == ()
    assert owners.of("127.0.0.1") is None  # resolver-a's address: the resolver's own


def test_the_state_round_trips() -> None:
    learned = Aggregates()
    learned.add(Owner("ehr"), Message(T0, SERVICE, "a.region.internal", "A", "NOERROR", ("b.x",)))
    learned.add(Owner("ehr", "paper"), Message(T0 + 5, PAPER, "c.region.internal", "A"))
    again = Aggregates.from_json(json.loads(json.dumps(learned.as_json())))
    assert again.seen == learned.seen and again.hours == learned.hours
    assert again.newest == learned.newest
    with pytest.raises(ValueError):
        Aggregates.from_json({"version": 2})


def test_learn_exits_by_what_it_found_and_its_fragment_quiets_the_next(tmp_path: Path) -> None:
    config = tmp_path / "probes.yaml"
    config.write_text(CONFIG)
    tap = write(tmp_path / "tap.dnstap", [
        response(PAPER, "print.region.internal"),
        response(SERVICE, "ehr-db.region.internal"),
        response(SERVICE, "lab-api.region.internal"),
        response(READONLY, "ehr-ro.region.internal"),
    ])  # fmt: skip
    first = dnsmon(config, "learn", "--from", str(tap), "--format", "json")
    assert first.code == 2, first.stderr
    assert {f["kind"] for f in first.json["findings"]} == {"dns_free_backup_resolves", "unmapped"}
    fragment = yaml.safe_load(
        dnsmon(config, "learn", "--from", str(tap), "--format", "yaml").stdout
    )
    merged = yaml.safe_load(CONFIG)
    merged["names"] += fragment["names"]
    for entry in fragment["services"]:
        service = next(s for s in merged["services"] if s["name"] == entry["name"])
        service["depends_on"] = entry.get("depends_on", service["depends_on"])
        for backup in entry.get("backups", []):
            mine = next(b for b in service["backups"] if b["name"] == backup["name"])
            mine["depends_on"] = backup["depends_on"]
    config.write_text(yaml.safe_dump(merged))
    again = dnsmon(config, "learn", "--from", str(tap), "--format", "json")
    assert (again.code, again.json["findings"]) == (0, [])
    text = dnsmon(config, "learn", "--from", str(tap))
    assert "nothing found" in text.stdout


def test_learn_refuses_input_it_cannot_read(tmp_path: Path) -> None:
    config = tmp_path / "probes.yaml"
    config.write_text(CONFIG)
    (tmp_path / "x.log").write_text("nothing a resolver wrote\n")
    run = dnsmon(config, "learn", "--from", str(tmp_path / "x.log"))
    assert run.code == 3 and "not dnstap" in run.stderr
    bare = tmp_path / "bare.yaml"
    text = CONFIG.replace("    hosts: [10.30.1.0/28]\n", "")
    for written in (
        ", hosts: [10.31.0.0/24]",
        ", hosts: [10.32.0.9]",
        ", networks: [10.20.0.0/16]",
    ):
        text = text.replace(written, "")
    bare.write_text(text)
    run = dnsmon(bare, "learn", "--from", str(tmp_path / "x.log"))
    assert run.code == 3 and "hosts:" in run.stderr


def test_lint_and_the_status_page_tell_what_serve_learned(tmp_path: Path) -> None:
    from monitor.outputs.statuspage import status_page

    learned = Aggregates()
    learned.add(Owner("ehr", "paper"), Message(T0, PAPER, "print.region.internal", "A", "NOERROR"))
    state = tmp_path / "learned.json"
    state.write_text(json.dumps(learned.as_json()))
    config = tmp_path / "probes.yaml"
    config.write_text(CONFIG + f"learning:\n  state: {state}\n")
    run = dnsmon(config, "lint", "--format", "json")
    mine = [f for f in run.json["findings"] if f["kind"].startswith("learned_")]
    assert [(f["kind"], f["subject"], f["message"]) for f in mine] == [(
        "learned_dns_free_backup_resolves", "ehr/paper",
        "backup paper of ehr is said to need no DNS, but its machines resolve "
        "print.region.internal A",
    )]  # fmt: skip
    report = json.loads(dnsmon(config, "check", "--format", "json").stdout)
    report["learned"] = {"days": 7, "sources": [], "findings": [
        {"kind": "dns_free_backup_resolves", "service": "ehr", "backup": "paper",
         "client": None, "name": "print.region.internal", "type": "A", "count": 3,
         "first_seen": "2026-12-06T10:00:00Z", "last_seen": "2026-12-06T11:00:00Z",
         "rcodes": {"NOERROR": 3}, "cnames": []}]}  # fmt: skip
    page = status_page(report, "test")
    assert "Learned from the resolvers' traffic" in page
    assert "backup paper of ehr: print.region.internal A, 3 times" in page


@given(st.lists(st.sampled_from([None, "NOERROR", "NXDOMAIN", "SERVFAIL"]), max_size=30))
def test_each_rcode_is_counted_however_they_come(rcodes: list[str | None]) -> None:
    from collections import Counter

    from monitor.learning.aggregate import Seen

    seen = Seen()
    for rcode in rcodes:
        seen.add(Message(T0, SERVICE, "a.region.internal", "A", rcode))
    assert seen.rcodes == dict(Counter(r for r in rcodes if r is not None))
    assert seen.count == len(rcodes)
