"""Zeek's dns.log, TSV (with its ``#fields`` header) or JSON lines.

A record gives the client (``id.orig_h``), the question, the rcode and the answers'
data, CNAME targets among them: for A and AAAA questions, an answer that is not an
address is a target along the chain. Records from the resolver to the authority (where
the sensor sees them) are the resolver's own: they carry no client of ours.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from monitor.learning.messages import Malformed, Message
from monitor.learning.readers.lines import name_text, text_lines

UNSET = ("-", "(empty)")


def looks_like_tsv(head: bytes) -> bool:
    return head.startswith(b"#separator") and b"\n#path\tdns" in head


def looks_like_json(head: bytes) -> bool:
    first = head.lstrip().split(b"\n", 1)[0]
    return first.startswith(b"{") and b'"id.orig_h"' in first and b'"query"' in first


def read_tsv(stream: BinaryIO) -> Iterator[Message | Malformed]:
    fields: list[str] = []
    for line in text_lines(stream):
        if line is None:
            yield Malformed("a line that is not text")
        elif line.startswith("#fields\t"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            values = line.split("\t")
            if len(values) != len(fields):
                yield Malformed("a record with another number of fields than #fields")
                continue
            record = {k: v for k, v in zip(fields, values, strict=True) if v not in UNSET}
            answers = record.get("answers", "")
            yield _message(record, answers.split(",") if answers else [])


def read_json(stream: BinaryIO) -> Iterator[Message | Malformed]:
    for line in text_lines(stream):
        if line is None:
            yield Malformed("a line that is not text")
        elif line.strip():
            try:
                record = json.loads(line)
            except ValueError:
                yield Malformed("a line that is not JSON")
                continue
            if not isinstance(record, dict):
                yield Malformed("a JSON line that is not a record")
                continue
            answers = record.get("answers")
            yield _message(record, [str(a) for a in answers] if isinstance(answers, list) else [])


def _message(record: dict[str, Any], answers: list[str]) -> Message | Malformed:
    try:
        when = float(record["ts"])
        client = str(record["id.orig_h"])
        name = name_text(str(record["query"]))
        rdtype = str(record.get("qtype_name", "A"))
    except (KeyError, ValueError, TypeError) as exc:
        return Malformed(f"a dns.log record without {exc}")
    rcode = record.get("rcode_name")
    cnames = (
        tuple(name_text(a) for a in answers if not _address(a)) if rdtype in ("A", "AAAA") else ()
    )
    return Message(when, client, name, rdtype, str(rcode) if rcode else None, cnames)


def _address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
