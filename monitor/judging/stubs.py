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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
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
    lost_first: bool = False  # it answered only when asked again: a first try is lost


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
    current: str | None = None  # systemd-resolved: the server it has settled on


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
    order = list(enumerate(heard))  # each server with its place in resolv.conf
    if settings.rotate and len(heard) > 1:  # a random start, then round-robin
        orders = [order[i:] + order[:i] for i in range(len(order))]
        worst = max((_glibc_order(settings, o) for o in orders), key=_badness)
        note = f"rotate: the worst of {len(orders)} starting servers"
        return Replay(worst.usable, worst.seconds, worst.answered_by,
                      (note, *worst.steps), worst.why)  # fmt: skip
    return _glibc_order(settings, order)


def _badness(r: Replay) -> tuple[bool, float]:
    return (not r.usable, r.seconds)


def _glibc_order(settings: Settings, order: list[tuple[int, Heard]]) -> Replay:
    """One lookup, the servers tried in this order; each waited for by its place in
    resolv.conf (with ``rotate`` that is not its place in the order)."""
    at, steps = 0.0, []
    for attempt in range(settings.attempts):
        for position, (index, h) in enumerate(order):
            wait = glibc_wait(settings.timeout, index, len(order))
            if h.said is Said.SILENT or h.seconds > wait or (h.lost_first and attempt == 0):
                at += wait  # gone, or not yet answered, before the wait was over
                steps.append(f"{h.server} silent {seconds_text(wait)}")
            elif h.said in FINAL:
                return _ended(h, at + h.seconds, steps, "glibc")
            elif h.said is Said.TCP_FAILED:
                rest = [x for _, x in order[position + 1 :]]
                return _glibc_over_tcp(rest, at + h.seconds, [*steps, _step(h)])
            else:  # SERVFAIL, REFUSED, NOTIMP, lame, a closed port: the next one at once
                at += h.seconds
                steps.append(_step(h))
        if (
            attempt == 0
            and settings.attempts > 1
            and not any(
                h.said in FINAL or h.said is Said.TCP_FAILED or h.lost_first for _, h in order
            )
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
    """res_msend.c: all servers at once, again every timeout/attempts; the first NOERROR
    (even one without an answer) or NXDOMAIN wins, whoever sent it; SERVFAIL is asked
    again at once and refusals are ignored; the whole lookup ends at ``timeout``."""
    retry = settings.timeout / max(1, settings.attempts)

    def arrives(h: Heard) -> float:  # a lost first query is answered after the resend
        return h.seconds + (retry if h.lost_first else 0.0)

    final = [h for h in heard if h.said in MUSL_TAKES or h.said is Said.TCP_FAILED]
    first = min(final, key=arrives, default=None)
    steps = [_step(h) for h in heard if h is not first]
    if first is None or arrives(first) >= settings.timeout:
        return _gave_up(settings.timeout, steps, "no resolver gave an answer musl accepts")
    if first.said is Said.TCP_FAILED:  # musl ends everything when its TCP fallback fails
        steps.append(_step(first))
        why = f"{first.server} truncates the answer and musl's TCP fallback to it fails"
        return _gave_up(arrives(first), steps, why)
    return _ended(first, arrives(first), steps, "musl")


MUSL_TAKES = FINAL | {Said.LAME}  # any NOERROR or NXDOMAIN reply


# --- systemd-resolved ---------------------------------------------------------------------

RESOLVED_SWITCH = frozenset({Said.SILENT, Said.CLOSED, Said.REFUSED, Said.SERVFAIL,
                             Said.TCP_FAILED, Said.LAME, Said.FORMERR})  # fmt: skip


def _switches(h: Heard, settings: Settings) -> bool:
    """Whether this reply makes systemd-resolved leave the server for the next."""
    return h.said in RESOLVED_SWITCH or h.lost_first or h.seconds > settings.timeout


def settled_on(settings: Settings, questions: Iterable[list[Heard]]) -> str | None:
    """The server systemd-resolved settles on for a group's lookups: its current server
    is one per link, left for the next whenever a question fails there, so it ends on
    the first that fails none of them; None when every one fails some."""
    asked = list(questions)
    switching = {h.server for heard in asked for h in heard if _switches(h, settings)}
    order = [h.server for h in asked[0]] if asked else []
    return next((server for server in order if server not in switching), None)


def _resolved(settings: Settings, heard: list[Heard]) -> Replay:
    """resolved-dns-transaction.c: one current server, kept until it fails; then the next,
    which stays current. Replayed from the server it settled on for the group's
    questions; when it cannot settle, from whichever start is worst."""
    servers = [h.server for h in heard]
    if settings.current in servers:
        start = servers.index(settings.current)
        found = _resolved_from(settings, heard, start)
        if start == 0:
            return found
        left = ", ".join(servers[:start])
        note = f"systemd-resolved stays with {settings.current} ({left} fails some lookups)"
        return replace(found, steps=(note, *found.steps))
    worst = max((_resolved_from(settings, heard, i) for i in range(len(heard))), key=_badness)
    note = "systemd-resolved settles on no resolver: the worst of each as its current one"
    return replace(worst, steps=(note, *worst.steps))


def _resolved_from(settings: Settings, heard: list[Heard], start: int) -> Replay:
    at, steps = 0.0, list[str]()
    for h in heard[start:] + heard[:start]:
        if not _switches(h, settings):
            return _ended(h, at + h.seconds, steps, "systemd-resolved")
        silent = h.said is Said.SILENT or h.lost_first or h.seconds > settings.timeout
        spent = settings.timeout if silent else h.seconds
        at += spent
        steps.append(f"{h.server} silent {seconds_text(spent)}" if silent else _step(h))
    return _gave_up(at, steps, "every resolver fails")


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
    sends = _windows_sends(len(heard))
    arrivals, asked = [], set()
    for sent, servers in sends:
        for i in servers:
            h, again = heard[i], i in asked
            asked.add(i)
            if h.said in (Said.SILENT, Said.CLOSED) or (h.lost_first and not again):
                continue
            if sent + h.seconds < WINDOWS_GIVE_UP:
                arrivals.append((sent + h.seconds, h))
    if not arrivals:
        steps = [_step(h) for h in heard]
        return _gave_up(WINDOWS_GIVE_UP, steps, "no resolver answered within 10 s")
    at, h = min(arrivals, key=lambda pair: pair[0])
    before = {heard[i].server for sent, servers in sends if sent < at for i in servers}
    waited = [f"{x.server} {x.text}" for x in heard
              if x is not h and x.said is Said.SILENT and x.server in before]  # fmt: skip
    if h.said is Said.ANSWER:
        return Replay(True, at, h.server, (*waited, _step(h)))
    why = f"{h.server} answers {h.text} first, which Windows takes as final"
    return Replay(False, at, h.server, (*waited, _step(h)), why)


# Stubs that ask one resolver after another, the first in the group's order first: a
# quick, usable answer from that one ends the lookup at once, whatever the others say.
FIRST_ANSWER_ENDS = frozenset({Stub.GLIBC, Stub.WINDOWS})
QUICK = 0.5  # seconds: a reply this fast is told without its time ("resolver-a ok")


STUBS: dict[Stub, Callable[[Settings, list[Heard]], Replay]] = {
    Stub.GLIBC: _glibc,
    Stub.MUSL: _musl,
    Stub.SYSTEMD_RESOLVED: _resolved,
    Stub.WINDOWS: _windows,
}
