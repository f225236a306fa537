"""What a monitoring plugin's caller reads: the guidelines' performance-data grammar, and
reports of hand-built rounds to render."""

from __future__ import annotations

import re
from typing import Any

from monitor.judging import causes as causes_module
from monitor.judging.health import judge
from monitor.outputs import report
from monitor.probing.results import Round
from tests.rounds import CONFIG, GRAPH

# The guidelines' grammar, read strictly: a label quoted (a quote inside doubled; no '='),
# a value in [-0-9.] or U, a unit from their list, thresholds as ranges, min and max.
LABEL = r"'(?:[^'=]|'')+'"
NUMBER = r"-?[0-9.]+"
RANGE = r"@?[-0-9.~]*:?[-0-9.]*"
ITEM = re.compile(
    rf"(?P<label>{LABEL})=(?P<value>{NUMBER}|U)(?P<unit>s|us|ms|%|B|KB|MB|TB|c)?"
    rf"(?:;(?P<warn>{RANGE})(?:;(?P<crit>{RANGE})(?:;(?P<min>{NUMBER})?(?:;(?P<max>{NUMBER})?)?)?)?)?"
)


Perfdata = dict[str, dict[str, str | None]]


def parse_perfdata(data: str) -> Perfdata:
    """label → its fields; fails on anything the grammar does not allow."""
    found: Perfdata = {}
    position = 0
    while position < len(data):
        match = ITEM.match(data, position)
        assert match, f"not performance data at {position}: {data[position:]!r}"
        label = match.group("label")[1:-1].replace("''", "'")
        assert label not in found, f"label {label!r} twice"
        found[label] = match.groupdict()
        position = match.end()
        if position < len(data):
            assert data[position] == " ", f"no space after an item: {data[position:]!r}"
            position += 1
    return found


def report_of(round_: Round) -> dict[str, Any]:
    """The JSON report of a hand-built round (tests/rounds.py), as ``check`` builds it."""
    health = judge(GRAPH, round_)
    found = causes_module.find(GRAPH, health, round_.results.values())
    return report.build(CONFIG, GRAPH, health, 0.0, 0.1, round_.results.values(), found)
