"""Windows DNS Server's debug log: its short dates in every regional order, the server's
own queries told apart from its clients', and lines that are not lookups skipped."""

from __future__ import annotations

import io
import time

import pytest
from traffic import windows_packet

from monitor.learning.messages import Malformed, Message
from monitor.learning.readers import windows

AT = time.mktime((2026, 12, 6, 15, 10, 14, 0, 0, -1))  # local, as the log writes it
CLIENT = "10.20.0.5"


def read(*lines: str) -> list[Message | Malformed]:
    return list(windows.read(io.BytesIO("\r\n".join(lines).encode() + b"\r\n")))


def packet(**changes: object) -> str:
    fields: dict[str, object] = dict(
        at=AT, remote=CLIENT, xid=0x5B47, response=True, sent=True, flags=0x8180,
        rcode="NOERROR", qtype="A", qname="ehr.region.internal",
    )  # fmt: skip
    fields.update(changes)
    return windows_packet(**fields)  # type: ignore[arg-type]


def test_a_question_and_its_answer() -> None:
    question = packet(response=False, sent=False, flags=0x0100)
    [asked, answered] = read(question, packet())
    assert asked == Message(AT, CLIENT, "ehr.region.internal", "A", query_only=True)
    assert answered == Message(AT, CLIENT, "ehr.region.internal", "A", rcode="NOERROR")


def test_the_servers_own_queries_to_its_forwarder_are_its_own() -> None:
    sent = packet(remote="10.0.0.53", response=False, sent=True, flags=0x0100)
    back = packet(remote="10.0.0.53", response=True, sent=False, rcode="NXDOMAIN")
    assert [m.own for m in read(sent, back)] == [True, True]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("written", "clock"),
    [
        ("12/6/2026", "3:10:14 PM"),  # en-US, Windows' default
        ("06.12.2026", "15:10:14"),  # de-DE, fi-FI, …
        ("2026-12-06", "15:10:14"),  # sv-SE, ISO
        ("2026/12/06", "15:10:14"),  # ja-JP
        ("12/6/26", "03:10:14 PM"),  # a two-digit year
    ],
)
def test_every_regional_short_date(written: str, clock: str) -> None:
    line = packet().replace("12/6/2026 3:10:14 PM", f"{written} {clock}", 1)
    [message] = read(line)
    assert isinstance(message, Message) and message.time == AT


def test_day_first_slashes_are_learned_from_a_day_past_the_12th() -> None:
    early = packet().replace("12/6/2026 3:10:14 PM", "13/11/2026 15:10:14", 1)
    late = packet().replace("12/6/2026 3:10:14 PM", "6/12/2026 15:10:14", 1)
    first, second = read(early, late)
    assert time.localtime(first.time)[:3] == (2026, 11, 13)  # type: ignore[union-attr]
    assert second.time == AT  # type: ignore[union-attr]


def test_notify_update_dumps_and_the_legend_are_not_lookups() -> None:
    notify = packet().replace(" R Q [", " R N [", 1)
    dump = "UDP response info at 00000000033397A0"
    assert read("DNS Server log file creation at 12/6/2026 3:10:13 PM", "", notify, dump,
                "    Message:", "      XID       0x5b47") == []  # fmt: skip


def test_names_in_label_form_and_ipv6_clients() -> None:
    [message] = read(packet(remote="fd00::5", qname="_ldap._tcp.Region.Internal", qtype="SRV"))
    assert (message.client, message.name, message.type) == (  # type: ignore[union-attr]
        "fd00::5",
        "_ldap._tcp.region.internal",
        "SRV",
    )


def test_a_date_that_is_no_date_is_malformed() -> None:
    [bad] = read(packet().replace("12/6/2026", "13/13/2026", 1))
    assert isinstance(bad, Malformed)


def test_the_format_is_told_from_its_head() -> None:
    assert windows.looks_like(b"DNS Server log file creation at 12/6/2026 3:10:13 PM\r\n")
    assert windows.looks_like(packet().encode())
    assert not windows.looks_like(b"06-Dec-2026 15:10:14.453 client @0x7ff 127.0.0.1#5 (a): query")
