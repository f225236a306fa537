"""How each client stub resolver looks a name up, replayed over what its resolvers said. Pure.

Given what each of a client group's resolvers answered the group's own question this
round (``Heard``), a stub's rules say which answer the client ends with, after how long,
and by which path. The rules, and where each comes from, are in the README ("How clients
look names up"):

- glibc: the servers in order, each waited for a fixed time per position; SERVFAIL,
  REFUSED, NOTIMP and a closed port move on at once; NXDOMAIN and NODATA are final; a
  truncated answer is asked again over TCP of the same server, and if that fails only
  the later servers are tried, over TCP, once.
- musl: every server at once, again every timeout/attempts; the first NOERROR or
  NXDOMAIN from any server wins; refusals are ignored; a failed TCP fallback ends it.
- systemd-resolved: stays with one server until it fails, then moves to the next and
  stays there; NXDOMAIN is final; a silent server costs 5 s per try.
- windows: the first server at once, the second after 1 s, the third after 2 s, all of
  them after 4 and 8 s, given up at 10 s; the first answer of any kind is taken.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from monitor.config import ClientGroup
from monitor.states import Stub


class Said(Enum):
    """What one resolver did with a client's question, as a stub tells it apart."""

    ANSWER = "answer"  # a usable answer
    WRONG = "wrong"  # an answer, but not the expected one
    NEGATIVE = "negative"  # NXDOMAIN, or NODATA
    SERVFAIL = "servfail"
    REFUSED = "refused"  # REFUSED or NOTIMP
    FORMERR = "formerr"  # FORMERR, or another rcode a stub takes as final
    LAME = "lame"  # NOERROR with no answer, no AA, no RA: glibc moves on
    SILENT = "silent"  # no reply in time
    CLOSED = "closed"  # the host said nothing listens, or there is no route
    TCP_FAILED = "tcp_failed"  # truncated over UDP, and TCP to it failed


@dataclass(frozen=True)
class Heard:
    """One resolver's reply to one client question; ``seconds`` its round trip."""

    server: str
    said: Said
    seconds: float
    text: str  # as people read it: "NXDOMAIN", "silent", "truncated; TCP refused"


@dataclass(frozen=True)
class Replay:
    """How one lookup ends for the client."""

    usable: bool  # the client got the expected answer
    seconds: float  # until it had an answer or gave up
    answered_by: str | None  # whose answer it took, if any
    steps: tuple[str, ...]  # "resolver-a silent 5 s", "resolver-b ok"
    why: str = ""  # why it is not usable, in words


@dataclass(frozen=True)
class Settings:
    """A group's stub with its defaults filled in."""

    stub: Stub
    timeout: float
    attempts: int
    rotate: bool


# Each stub's defaults: timeout seconds, attempts.
DEFAULTS = {
    Stub.GLIBC: (5.0, 2),  # resolv.h RES_TIMEOUT, RES_DFLRETRY
    Stub.MUSL: (5.0, 2),  # resolvconf.c
    Stub.SYSTEMD_RESOLVED: (5.0, 24),  # DNS_TIMEOUT_USEC, DNS_TRANSACTION_ATTEMPTS_MAX
    Stub.WINDOWS: (1.0, 5),  # 0, 1, 2, 4, 8 s: the documented schedule
}
FINAL = frozenset({Said.ANSWER, Said.WRONG, Said.NEGATIVE, Said.FORMERR})


def settings_of(group: ClientGroup) -> Settings:
    timeout, attempts = DEFAULTS[group.stub]
    return Settings(
        group.stub,
        group.timeout if group.timeout is not None else timeout,
        group.attempts if group.attempts is not None else attempts,
        group.rotate,
    )


def replay(settings: Settings, heard: Sequence[Heard]) -> Replay:
    """The lookup as ``settings.stub`` makes it over these replies, in resolver order."""
    if not heard:
        return Replay(False, 0.0, None, (), "no resolver of this group is asked for it")
    return STUBS[settings.stub](settings, list(heard))


def _step(h: Heard, seconds: float | None = None) -> str:
    told = "ok" if h.said is Said.ANSWER else h.text
    spent = h.seconds if seconds is None else seconds
    return f"{h.server} {told} {seconds_text(spent)}" if spent >= QUICK else f"{h.server} {told}"


def seconds_text(seconds: float) -> str:
    """``5 s``, ``1.2 s``, ``12 s``: a wait as people say it."""
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s".replace(".0 s", " s")


def _ended(h: Heard, at: float, steps: list[str], stub: str) -> Replay:
    """The client takes ``h``'s final answer at ``at``."""
    steps.append(_step(h))
    if h.said is Said.ANSWER:
        return Replay(True, at, h.server, tuple(steps))
    return Replay(False, at, h.server, tuple(steps), f"{h.server} answers {h.text}, which "
                  f"{stub} takes as final")  # fmt: skip


def _gave_up(at: float, steps: list[str], why: str) -> Replay:
    return Replay(False, at, None, tuple(steps), why)


# --- glibc ------------------------------------------------------------------------------


def glibc_wait(timeout: float, index: int, count: int) -> float:
    """res_send.c send_dg: ``seconds = retrans << ns; if (ns > 0) seconds /= nscount``,
    at least 1 — by the server's position, the same on every attempt."""
    if index == 0:
        return timeout
    return max(1.0, math.floor(timeout * 2**index / count))


def _glibc(settings: Settings, heard: list[Heard]) -> Replay:
    if settings.rotate and len(heard) > 1:  # a random start, then round-robin
        orders = [heard[i:] + heard[:i] for i in range(len(heard))]
        worst = max((_glibc_order(settings, o) for o in orders), key=_badness)
        note = f"rotate: the worst of {len(orders)} starting servers"
        return Replay(worst.usable, worst.seconds, worst.answered_by,
                      (note, *worst.steps), worst.why)  # fmt: skip
    return _glibc_order(settings, heard)


def _badness(r: Replay) -> tuple[bool, float]:
    return (not r.usable, r.seconds)


def _glibc_order(settings: Settings, heard: list[Heard]) -> Replay:
    at, steps = 0.0, []
    for attempt in range(settings.attempts):
        for index, h in enumerate(heard):
            wait = glibc_wait(settings.timeout, index, len(heard))
            if h.said is Said.SILENT or h.seconds > wait:  # gone before its reply came
                at += wait
                steps.append(f"{h.server} silent {seconds_text(wait)}")
            elif h.said in FINAL:
                return _ended(h, at + h.seconds, steps, "glibc")
            elif h.said is Said.TCP_FAILED:
                return _glibc_over_tcp(heard[index + 1 :], at + h.seconds, [*steps, _step(h)])
            else:  # SERVFAIL, REFUSED, NOTIMP, lame, a closed port: the next one at once
                at += h.seconds
                steps.append(_step(h))
        if (
            attempt == 0
            and settings.attempts > 1
            and not any(h.said in FINAL or h.said is Said.TCP_FAILED for h in heard)
        ):  # every pass goes as the first did
            steps.append(f"all that {settings.attempts} times")
            at *= settings.attempts
            break
    why = "no resolver gave an answer" + (" in time" if "silent" in " ".join(steps) else "")
    return _gave_up(at, steps, why)


def _glibc_over_tcp(rest: list[Heard], at: float, steps: list[str]) -> Replay:
    """After a failed TCP fallback glibc asks only the later servers, over TCP, once."""
    for h in rest:
        if h.said in FINAL:
            return _ended(h, at + h.seconds, steps, "glibc")
        at += h.seconds
        steps.append(_step(h))
    why = "the answer does not fit in 512 bytes and no resolver after it answers over TCP"
    return _gave_up(at, steps, why)


# --- musl -------------------------------------------------------------------------------


def _musl(settings: Settings, heard: list[Heard]) -> Replay:
    """res_msend.c: all servers at once; the first NOERROR or NXDOMAIN wins, whoever sent
    it; SERVFAIL is asked again at once and refusals are ignored; the whole lookup ends
    at ``timeout`` (not timeout × attempts)."""
    final = [h for h in heard if h.said in FINAL or h.said is Said.TCP_FAILED]
    first = min(final, key=lambda h: h.seconds, default=None)
    steps = [_step(h) for h in heard if h is not first]
    if first is None or first.seconds >= settings.timeout:
        return _gave_up(settings.timeout, steps, "no resolver gave an answer musl accepts")
    if first.said is Said.TCP_FAILED:  # musl ends everything when its TCP fallback fails
        steps.append(_step(first))
        why = f"{first.server} truncates the answer and musl's TCP fallback to it fails"
        return _gave_up(first.seconds, steps, why)
    return _ended(first, first.seconds, steps, "musl")


# --- systemd-resolved ---------------------------------------------------------------------

RESOLVED_SWITCH = frozenset({Said.SILENT, Said.CLOSED, Said.REFUSED, Said.SERVFAIL,
                             Said.TCP_FAILED, Said.LAME, Said.FORMERR})  # fmt: skip


def _resolved(settings: Settings, heard: list[Heard]) -> Replay:
    """resolved-dns-transaction.c: one current server, kept until it fails; then the next,
    which stays current. Replayed as its lookups run once it has settled: from the first
    server that does not fail (the lookup that found it out waited for the failures)."""
    settled = next((i for i, h in enumerate(heard) if h.said not in RESOLVED_SWITCH), None)
    if settled is None:
        steps = [_step(h) for h in heard]
        return _gave_up(settings.timeout * len(heard), steps, "every resolver fails")
    h = heard[settled]
    steps = []
    if settled:
        left = ", ".join(x.server for x in heard[:settled])
        steps.append(f"stays with {h.server} since {left} failed (the first lookup after "
                     f"that waited up to {seconds_text(settings.timeout)} each)")  # fmt: skip
    if h.seconds > settings.timeout:
        steps.append(f"{h.server} silent {seconds_text(settings.timeout)}")
        return _gave_up(settings.timeout, steps, f"{h.server} answers too slowly")
    return _ended(h, h.seconds, steps, "systemd-resolved")


# --- windows ------------------------------------------------------------------------------

WINDOWS_SCHEDULE = (0.0, 1.0, 2.0, 4.0, 8.0)  # when each round of queries is sent
WINDOWS_GIVE_UP = 10.0


def _windows_sends(count: int) -> list[tuple[float, list[int]]]:
    """KB 2834226: the first server at 0 s, the second at 1 s, the third (or the second
    again) at 2 s, every server at 4 s and 8 s."""
    return [(0.0, [0]), (1.0, [min(1, count - 1)]), (2.0, [min(2, count - 1)]),
            (4.0, list(range(count))), (8.0, list(range(count)))]  # fmt: skip


def _windows(settings: Settings, heard: list[Heard]) -> Replay:
    """The first reply of any kind from any server is taken (a negative one too)."""
    arrivals = []
    for sent, servers in _windows_sends(len(heard)):
        for i in servers:
            h = heard[i]
            if h.said is not Said.SILENT and h.said is not Said.CLOSED:
                arrivals.append((sent + h.seconds, h))
    arrivals = [(t, h) for t, h in arrivals if t < WINDOWS_GIVE_UP]
    if not arrivals:
        steps = [_step(h) for h in heard]
        return _gave_up(WINDOWS_GIVE_UP, steps, "no resolver answered within 10 s")
    at, h = min(arrivals, key=lambda pair: pair[0])
    asked_before = {heard[i].server for sent, servers in _windows_sends(len(heard))
                    if sent < at for i in servers}  # fmt: skip
    waited = [f"{x.server} {x.text}" for x in heard
              if x is not h and x.said is Said.SILENT and x.server in asked_before]  # fmt: skip
    if h.said is Said.ANSWER:
        return Replay(True, at, h.server, (*waited, _step(h)))
    why = f"{h.server} answers {h.text} first, which Windows takes as final"
    return Replay(False, at, h.server, (*waited, _step(h)), why)


# Stubs that ask one resolver after another, the first in the group's order first: a
# quick, usable answer from that one ends the lookup at once, whatever the others say.
FIRST_ANSWER_ENDS = frozenset({Stub.GLIBC, Stub.SYSTEMD_RESOLVED, Stub.WINDOWS})
QUICK = 0.5  # seconds: a reply this fast is told without its time ("resolver-a ok")


STUBS: dict[Stub, Callable[[Settings, list[Heard]], Replay]] = {
    Stub.GLIBC: _glibc,
    Stub.MUSL: _musl,
    Stub.SYSTEMD_RESOLVED: _resolved,
    Stub.WINDOWS: _windows,
}
