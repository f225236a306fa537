"""Hand-built rounds over a small region, judged without network or clock.

resolver-a and resolver-b (which serves stale answers for an hour); ns1 and ns2 serve
region.internal and backup.internal; ns3 serves other.internal, where ehr-app's CNAME
leads. ``healthy_round`` answers every query of the real plan — canaries and CNAME
targets included — correctly; tests then break what they need with ``edit``.
"""

from __future__ import annotations

from dataclasses import replace

from monitor.config import parse
from monitor.judging import graph as graph_module
from monitor.probing.plan import Purpose
from monitor.probing.results import ProbeResult, Round
from monitor.states import Result

CONFIG_TEXT = """\
site: dc-north
servers:
  - {name: resolver-a, address: 127.0.0.1, port: 5301}
  - {name: resolver-b, address: 127.0.0.1, port: 5302, serve_stale: 1h}
  - {name: ns1, address: 127.0.0.1, port: 5311, role: authoritative,
     zones: [region.internal, backup.internal]}
  - {name: ns2, address: 127.0.0.1, port: 5312, role: authoritative,
     zones: [region.internal, backup.internal]}
  - {name: ns3, address: 127.0.0.1, port: 5313, role: authoritative, zones: [other.internal]}
names:
  - {name: ehr-db.region.internal, expect: [127.20.1.15]}
  - {name: ehr-app.region.internal, expect: [127.30.1.10]}
  - {name: ehr-copy.backup.internal}
  - {name: lab.other.internal}
services:
  - name: ehr
    description: Electronic health record
    criticality: critical
    depends_on: [ehr-db.region.internal, ehr-app.region.internal]
    backups:
      - {name: ehr-copy, description: Read-only copy on the ward PCs,
         depends_on: [ehr-copy.backup.internal], instructions: Open the copy on the ward PC}
      - {name: paper, description: Paper forms, depends_on: [],
         instructions: Use the red folder at the nurses' station}
  - name: lab
    description: Laboratory results
    depends_on: [lab.other.internal]
"""
CONFIG = parse(CONFIG_TEXT)
GRAPH = graph_module.build(CONFIG)
APP = ("ehr-app.region.internal", "A")
DB = ("ehr-db.region.internal", "A")
CHAIN = {APP: ("app.other.internal",)}
RESOLVERS = ("resolver-a", "resolver-b")


def healthy_round(ttl: int = 300) -> Round:
    """Every query of a round that has learned ehr-app's chain, answered correctly."""
    layout = GRAPH.layout
    queries = layout.build() + layout.canaries()
    queries += layout.chain_queries(CHAIN, {q.key for q in queries})
    round_ = Round(1000.0, chains=dict(CHAIN))
    for q in queries:
        round_.add(_right_answer(q, ttl))
    return round_


def _right_answer(q, ttl: int) -> ProbeResult:
    if q.purpose is Purpose.CANARY:
        return ProbeResult(q, Result.NXDOMAIN)
    if q.purpose is Purpose.SOA:
        return ProbeResult(q, Result.OK, ttl=ttl, answers=("soa",), serial=1)
    if q.name == APP[0] and not q.recursion:  # region.internal's servers stop at its edge
        return ProbeResult(q, Result.OK, ttl=ttl, chain=CHAIN[APP])
    chain = CHAIN[APP] if q.name == APP[0] else ()
    answers = tuple(sorted(q.expect)) if q.expect else ("127.0.0.1",)
    return ProbeResult(q, Result.OK, ttl=ttl, answers=answers, chain=chain)


def edit(round_: Round, match, **fields) -> Round:
    hits = [k for k, r in round_.results.items() if match(r)]
    assert hits, "nothing matched"
    for key in hits:
        round_.results[key] = replace(round_.results[key], **fields)
    return round_


def on(*servers: str, name: str | None = None, purpose: Purpose | None = None):
    return lambda r: (
        r.query.server.name in servers
        and (name is None or r.query.name == name)
        and (purpose is None or r.query.purpose is purpose)
    )


def silence(round_: Round, *servers: str) -> Round:
    return edit(round_, on(*servers), result=Result.TIMEOUT, answers=(), ttl=None, chain=())
