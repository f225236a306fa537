"""The text report for people: printed at once, it reads exactly as printed line by line."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from monitor.judging import causes as causes_module
from monitor.judging.health import judge
from monitor.outputs import render as render_module
from monitor.outputs import report
from tests.rounds import CONFIG, GRAPH, healthy_round, silence

OPTIONS = {"highlight": False, "soft_wrap": True, "width": 100, "height": 40}


def _report(round_) -> dict:  # type: ignore[no-untyped-def]
    health = judge(GRAPH, round_)
    found = causes_module.find(GRAPH, health, round_.results.values())
    return report.build(CONFIG, GRAPH, health, 0.0, 0.1, round_.results.values(), found)


@pytest.mark.parametrize("terminal", [True, False], ids=["colours", "plain"])
@pytest.mark.parametrize("servers", [(), ("ns3",), ("resolver-a", "resolver-b")])
def test_the_one_shot_page_prints_what_a_console_prints_line_by_line(
    terminal: bool, servers: tuple[str, ...]
) -> None:
    built = _report(silence(healthy_round(), *servers) if servers else healthy_round())
    line_by_line, at_once = io.StringIO(), io.StringIO()
    render_module.render(built, Console(file=line_by_line, force_terminal=terminal, **OPTIONS))
    console = Console(file=at_once, force_terminal=terminal, **OPTIONS)
    with render_module.Page(console) as page:
        render_module.render(built, page)
        assert at_once.getvalue() == "", "nothing is written before the block ends"
    assert at_once.getvalue() == line_by_line.getvalue()
    assert built["site"] in at_once.getvalue()


def test_anything_but_a_line_of_text_is_printed_in_its_turn() -> None:
    out = io.StringIO()
    with render_module.Page(Console(file=out, **OPTIONS)) as page:
        page.print(Text("first"))
        page.print("second, a plain string", style="bold")
        page.print()
        page.print(Text("third"))
    assert out.getvalue() == "first\nsecond, a plain string\n\nthird\n"


@given(st.lists(st.text(max_size=40), max_size=12))
def test_plain_lines_are_written_as_rich_would_print_them(lines: list[str]) -> None:
    """Without colours the page writes the lines' text itself; whatever they hold (tabs,
    control characters, wide characters), it is what rich prints line by line."""
    line_by_line, at_once = io.StringIO(), io.StringIO()
    console = Console(file=line_by_line, force_terminal=False, **OPTIONS)
    with render_module.Page(Console(file=at_once, force_terminal=False, **OPTIONS)) as page:
        for line in lines:
            console.print(Text(line, style="bold"))
            page.print(Text(line, style="bold"))
    assert at_once.getvalue() == line_by_line.getvalue()
