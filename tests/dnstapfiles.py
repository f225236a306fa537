"""dnstap as resolvers write it, made in the tests: protobuf messages in Frame Streams.

    write(path, [response("10.30.1.5", "ehr-db.region.internal"), …])

Real BIND and Unbound captures are in tests/data/learn/; these are for the cases a
real server cannot be made to produce on demand (damage, a cut, any time of day).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset
from dnstap_pb import dnstap_pb2

from monitor.demo.dnstap import message
from monitor.learning.readers.framestreams import CONTENT_TYPE, START, STOP, control

T0 = 1_790_000_000.0


def response(
    client: str, name: str, rdtype: str = "A", rcode: int = dns.rcode.NOERROR,
    cnames: Iterable[str] = (), at: float = T0, kind: int = dnstap_pb2.Message.CLIENT_RESPONSE,
) -> bytes:  # fmt: skip
    """One dnstap frame: a resolver answering ``client``'s question (or, with ``kind``, a
    question alone or the resolver's own query)."""
    query = dns.message.make_query(name, rdtype)
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    owner = name
    for target in cnames:
        reply.answer.append(dns.rrset.from_text(owner + ".", 300, "IN", "CNAME", target + "."))
        owner = target
    wire = (query if kind % 2 else reply).to_wire()  # dnstap numbers queries odd
    return message((client, 5353), wire, at, kind)


def stream(frames: Iterable[bytes]) -> bytes:
    """A whole Frame Streams file: START, the frames, STOP."""
    return control(START, CONTENT_TYPE) + b"".join(frames) + control(STOP)


def write(path: Path, frames: Iterable[bytes]) -> Path:
    path.write_bytes(stream(frames))
    return path
