"""Each stub's rules, replayed over what its resolvers said (monitor/judging/stubs.py).

The glibc figures are what glibc 2.36 does against real servers (tests/test_clientlookup.py
measures them with getent); the others are from their source and documentation (README:
"How clients look names up").
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from monitor.config import ClientGroup
from monitor.judging import stubs
from monitor.judging.stubs import Heard, Said
from monitor.states import Result, Stub

A_OK = Heard("resolver-a", Said.ANSWER, 0.002, "ok")
B_OK = Heard("resolver-b", Said.ANSWER, 0.003, "ok")
C_OK = Heard("resolver-c", Said.ANSWER, 0.003, "ok")


def heard(server: str, said: Said, seconds: float = 0.001) -> Heard:
    text = {Said.SILENT: "silent", Said.CLOSED: "port closed"}.get(said, said.value.upper())
    return Heard(server, said, seconds, text)


def replay(stub: Stub, *answers: Heard, rotate: bool = False) -> stubs.Replay:
    group = ClientGroup("wards", tuple(h.server for h in answers), stub, rotate=rotate)
    return stubs.replay(stubs.settings_of(group), answers)


def test_glibc_waits_out_a_silent_first_resolver_on_every_lookup() -> None:
    found = replay(Stub.GLIBC, heard("resolver-a", Said.SILENT), B_OK)
    assert found.usable and found.answered_by == "resolver-b"
    assert found.seconds == 5.003
    assert found.steps == ("resolver-a silent 5 s", "resolver-b ok")


def test_glibc_moves_on_at_once_from_a_closed_port_servfail_or_refusal() -> None:
    for said in (Said.CLOSED, Said.SERVFAIL, Said.REFUSED, Said.LAME):
        found = replay(Stub.GLIBC, heard("resolver-a", said), B_OK)
        assert found.usable and found.seconds < 0.01, said


def test_glibc_never_asks_another_resolver_after_nxdomain() -> None:
    found = replay(Stub.GLIBC, heard("resolver-a", Said.NEGATIVE), B_OK)
    assert not found.usable and found.answered_by == "resolver-a"
    assert found.why == "resolver-a answers NEGATIVE, which glibc takes as final"


def test_glibc_waits_by_position_twice_when_everything_is_silent() -> None:
    silent = [heard(s, Said.SILENT) for s in ("a", "b", "c")]
    found = replay(Stub.GLIBC, *silent)
    assert not found.usable
    assert found.seconds == 2 * (5 + 3 + 6)  # send_dg: retrans << ns / nscount
    assert found.steps[-1] == "all that 2 times"


def test_glibc_after_a_failed_tcp_fallback_tries_only_later_servers() -> None:
    tcp_failed = heard("resolver-a", Said.TCP_FAILED)
    assert replay(Stub.GLIBC, tcp_failed, B_OK).usable
    last = replay(Stub.GLIBC, heard("resolver-b", Said.SERVFAIL), tcp_failed)
    assert not last.usable and "does not fit in 512 bytes" in last.why


def test_glibc_rotate_is_judged_by_its_worst_start() -> None:
    found = replay(Stub.GLIBC, heard("resolver-a", Said.NEGATIVE), B_OK, rotate=True)
    assert not found.usable and found.steps[0].startswith("rotate:")
    assert replay(Stub.GLIBC, A_OK, B_OK, rotate=True).usable


def test_glibc_gives_up_on_a_reply_slower_than_its_wait() -> None:
    found = replay(Stub.GLIBC, heard("resolver-a", Said.ANSWER, 6.0), B_OK)
    assert found.answered_by == "resolver-b" and found.seconds == 5.003


def test_musl_takes_the_first_answer_from_any_resolver() -> None:
    found = replay(Stub.MUSL, heard("resolver-a", Said.SILENT), B_OK)
    assert found.usable and found.seconds == 0.003
    assert replay(Stub.MUSL, heard("resolver-a", Said.REFUSED), B_OK).usable
    fast_nx = replay(Stub.MUSL, heard("resolver-a", Said.NEGATIVE, 0.001), B_OK)
    assert not fast_nx.usable  # the first NXDOMAIN wins too
    nothing = replay(Stub.MUSL, heard("resolver-a", Said.REFUSED), heard("b", Said.SILENT))
    assert not nothing.usable and nothing.seconds == 5.0  # the whole lookup's timeout


def resolved(*questions: list[Heard]) -> list[stubs.Replay]:
    """Each question's lookup by systemd-resolved, settled as over one group's round."""
    group = ClientGroup("wards", tuple(h.server for h in questions[0]), Stub.SYSTEMD_RESOLVED)
    settings = stubs.settings_of(group)
    settled = replace(settings, current=stubs.settled_on(settings, questions))
    return [stubs.replay(settled, q) for q in questions]


def test_systemd_resolved_stays_with_the_resolver_that_works() -> None:
    [found] = resolved([heard("resolver-a", Said.SILENT), B_OK])
    assert found.usable and found.seconds == 0.003
    assert "stays with resolver-b" in found.steps[0]
    [negative] = resolved([heard("resolver-a", Said.NEGATIVE), B_OK])
    assert not negative.usable


def test_systemd_resolved_keeps_one_current_server_for_every_name() -> None:
    """resolver-a fails one name (SERVFAIL): systemd-resolved moves to resolver-b for
    every name, and resolver-b's NXDOMAIN for another is what its clients get."""
    x = [heard("resolver-a", Said.SERVFAIL), B_OK]
    y = [A_OK, heard("resolver-b", Said.NEGATIVE)]
    first, second = resolved(x, y)
    assert first.usable and not second.usable
    assert second.answered_by == "resolver-b"


def test_systemd_resolved_without_a_server_it_can_settle_on_takes_the_worst() -> None:
    x = [heard("resolver-a", Said.SERVFAIL), B_OK]
    y = [A_OK, heard("resolver-b", Said.SILENT)]
    first, second = resolved(x, y)
    assert first.usable and second.usable and second.seconds == 5.002  # b silent, then a
    assert second.steps[0].startswith("systemd-resolved settles on no resolver")


def test_a_lost_first_query_costs_glibc_its_wait() -> None:
    lossy = Heard("resolver-a", Said.ANSWER, 0.002, "ok", lost_first=True)
    found = replay(Stub.GLIBC, lossy)
    assert found.usable and found.seconds == 5.002  # glibc's second try, 5 s later
    assert replay(Stub.MUSL, lossy).seconds == 2.502  # musl asks again after 2.5 s


def test_glibc_with_rotate_waits_by_each_servers_place_in_resolv_conf() -> None:
    silent = [heard(s, Said.SILENT) for s in ("a", "b", "c")]
    found = replay(Stub.GLIBC, *silent, rotate=True)
    assert found.seconds == 2 * (5 + 3 + 6)  # whatever the start: 5, 3 and 6 s each


def test_musl_takes_a_reply_without_an_answer_as_final() -> None:
    found = replay(Stub.MUSL, heard("resolver-a", Said.LAME, 0.001), B_OK)
    assert not found.usable and found.answered_by == "resolver-a"


def test_windows_asks_the_second_resolver_after_a_second() -> None:
    found = replay(Stub.WINDOWS, heard("resolver-a", Said.SILENT), B_OK)
    assert found.usable and found.seconds == 1.003
    assert not replay(Stub.WINDOWS, heard("resolver-a", Said.NEGATIVE), B_OK).usable


SAID = st.sampled_from(list(Said))


@given(st.lists(st.tuples(SAID, st.floats(0, 20)), min_size=1, max_size=4),
       st.sampled_from(list(Stub)), st.booleans())  # fmt: skip
def test_a_lookup_is_usable_only_through_an_answer_that_came(
    replies: list[tuple[Said, float]], stub: Stub, rotate: bool
) -> None:
    """Never a false "up": whatever the stub, a usable lookup took a real answer, and no
    lookup ends before that answer came."""
    answers = [Heard(f"r{i}", said, t, said.value) for i, (said, t) in enumerate(replies)]
    group = ClientGroup("g", tuple(h.server for h in answers), stub, rotate=rotate)
    found = stubs.replay(stubs.settings_of(group), answers)
    if found.usable:
        taken = next(h for h in answers if h.server == found.answered_by)
        assert taken.said is Said.ANSWER and found.seconds >= taken.seconds
    else:
        assert found.why


RESULTS = st.sampled_from([Result.OK, Result.OK, Result.NXDOMAIN, Result.SERVFAIL,
                           Result.TIMEOUT, Result.REFUSED])  # fmt: skip


@given(RESULTS, st.floats(0, 0.7), RESULTS, st.floats(0, 0.7),
       st.sampled_from(sorted(stubs.FIRST_ANSWER_ENDS)),
       st.sampled_from([None, 0.2]))  # fmt: skip
def test_the_quick_path_says_what_the_full_replay_says(
    a_said: Result, a_rtt: float, b_said: Result, b_rtt: float, stub: Stub, budget: float | None
) -> None:
    """A first resolver's quick, right answer ends the lookup without replaying the rest:
    the lookup it gives is the one the full replay gives."""
    from monitor.config import parse
    from monitor.judging import clients
    from monitor.judging.graph import build
    from monitor.probing.results import ProbeResult

    config = parse(f"""\
servers:
  - {{name: resolver-a, address: 127.0.0.1, port: 5301}}
  - {{name: resolver-b, address: 127.0.0.1, port: 5302}}
clients:
  - {{name: wards, resolvers: [resolver-a, resolver-b], stub: {stub}{
      f", lookup_budget: {budget}s" if budget else ""}}}
names:
  - {{name: ehr-db.region.internal, expect: [127.20.1.15]}}
services:
  - {{name: ehr, depends_on: [ehr-db.region.internal]}}
""")  # fmt: skip
    graph = build(config)
    said = {"resolver-a": (a_said, a_rtt), "resolver-b": (b_said, b_rtt)}
    results = {}
    for query in graph.layout.build():
        result, rtt = said[query.server.name]
        answers = ("127.20.1.15",) if result is Result.OK else ()
        results[query.key] = ProbeResult(query, result, rtt, 300, answers)
    [group] = graph.client_groups
    key = ("ehr-db.region.internal", "A")
    replayed = clients.replay_round(graph, results)["wards"][key]
    asked = clients._Asked(graph, group, results)
    full = clients.look_up(group, stubs.settings_of(group), key, asked.heard(key))
    assert replayed == full
